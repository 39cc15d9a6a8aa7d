# Stage 3 on CPU: a tiny randomly initialised GPT-2 (2 layers, 128 dims,
# trained, not frozen) on the stage-2 detector + selector, with a byte-level
# BPE tokenizer trained on the twin's region sentences first:
#   python tools/train_tokenizer.py configs/rrg/rrg-generator_tiny_synthetic.py \
#       --out work_dirs/tokenizers/synthetic
_base_ = ['./rrg-selector_tiny_synthetic.py']
model = dict(
    generator=dict(
        _delete_=True,
        type='GPT2RegionHead',
        in_channels=256,
        pretrained=None,
        gpt2_config=dict(n_layer=2, n_embd=128, n_head=4, n_positions=128),
        tokenizer='work_dirs/tokenizers/synthetic',
        freeze_lm=False,
        max_new_tokens=30,
        max_report_tokens=300,
        num_beams=1),
    train_selector=False,
    train_generator=True,
    detector_checkpoint=None)
load_from = 'work_dirs/rrg-selector_tiny_synthetic/epoch_4.pth'
val_evaluator = [
    dict(type='RegionSelectionMetric'),
    dict(type='ReportGenerationMetric'),
]
test_evaluator = val_evaluator
