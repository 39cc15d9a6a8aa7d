# Stage 2 (RRG-opt, CRRG-CLIP Table 4): 10 epochs, batch 16, lr 5e-5,
# pos_weight 2, ReduceLROnPlateau(factor 0.5, cooldown 5, patience 5).
_base_ = './rrg-selector_r50_fpn_base_imagenome.py'
model = dict(
    selector=dict(pos_weight=2.0),
    detector_checkpoint='work_dirs/faster-rcnn_r50_fpn_opt_imagenome/'
    'epoch_10.pth')
train_cfg = dict(max_epochs=10)
param_scheduler = [
    dict(_base_.rrg_opt_plateau, monitor='selection/f1_micro', patience=5)
]
