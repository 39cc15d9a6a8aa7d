# Query-based detector by config on CPU: the tiny DINO on the synthetic twin
# at 256 px. RegionDetector takes, per region, the query that scores it
# highest and its last-layer hidden state as the region feature.
_base_ = [
    '../_base_/models/dino-4scale_tiny_regions.py',
    '../_base_/datasets/chest_imagenome_detection_tiny.py',
    '../_base_/schedules/rrg_tiny_detector.py', '../_base_/default_runtime.py'
]
# DETR-style training: a smaller lr, gradient clipping (mmdet's DINO: AdamW
# 1e-4, clip 0.1)
optim_wrapper = dict(
    optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=0.1, norm_type=2))
default_hooks = dict(checkpoint=dict(interval=4))
