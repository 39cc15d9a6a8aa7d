# Stage 2 (RRG-base): the selector on the frozen stage-1 detector
# (pos_weight 1). Override the detector checkpoint with
# --cfg-options model.detector_checkpoint=...
_base_ = [
    '../_base_/models/rrg_region_guided.py',
    '../_base_/datasets/chest_imagenome_detection.py',
    '../_base_/schedules/rrg_adamw.py', '../_base_/default_runtime.py'
]
model = dict(
    generator=None,
    train_detector=False,
    train_selector=True,
    train_generator=False,
    selector=dict(pos_weight=1.0),
    detector_checkpoint='work_dirs/faster-rcnn_r50_fpn_base_imagenome/'
    'epoch_2.pth')
train_dataloader = dict(batch_size=16)
val_evaluator = [dict(type='RegionSelectionMetric')]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(
        interval=1, save_best='selection/f1_micro', rule='greater'))
