# Stage 3 (RRG-opt, CRRG-CLIP Table 4): 5 epochs, batch 1, lr 5e-5,
# ReduceLROnPlateau(factor 0.5, cooldown 5, patience 3), token budget 300.
_base_ = './rrg-generator_r50_fpn_gpt2-pubmed-medium_base_imagenome.py'
model = dict(generator=dict(max_report_tokens=300))
load_from = 'work_dirs/rrg-selector_r50_fpn_opt_imagenome/epoch_10.pth'
train_cfg = dict(max_epochs=5)
param_scheduler = [
    dict(_base_.rrg_opt_plateau, monitor='report/bleu_4', patience=3)
]
