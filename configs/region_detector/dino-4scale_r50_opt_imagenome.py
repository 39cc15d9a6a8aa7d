# Stage 1 of RRG-opt with a query-based detector: mmdet's DINO 4-scale R50
# for the 29 regions, 10 epochs with mmdet's DINO optimiser (AdamW 1e-4,
# backbone lr x0.1, gradient clipping 0.1).
_base_ = [
    '../_base_/models/dino-4scale_r50_regions.py',
    '../_base_/datasets/chest_imagenome_detection.py',
    '../_base_/schedules/rrg_opt_detector.py', '../_base_/default_runtime.py'
]
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
