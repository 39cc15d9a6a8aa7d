# Stage 2 on CPU: the region selector on the frozen tiny Faster R-CNN
# (configs/region_detector/faster-rcnn_tiny_synthetic.py, 256-d region features),
# loaded from that stage's checkpoint.
_base_ = [
    '../_base_/models/faster-rcnn_tiny_regions.py',
    '../_base_/models/rrg_tiny_heads.py',
    '../_base_/datasets/chest_imagenome_detection_tiny.py',
    '../_base_/schedules/rrg_tiny_selector.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='RegionGuidedReportGenerator',
    data_preprocessor={{_base_.model.data_preprocessor}},
    detector=dict(type='RegionDetector', detector={{_base_.model}}),
    selector=dict(_base_.tiny_selector, in_channels=256),
    generator=None,
    train_detector=False,
    train_selector=True,
    train_generator=False,
    detector_checkpoint='work_dirs/faster-rcnn_tiny_synthetic/epoch_8.pth')
default_hooks = dict(checkpoint=dict(interval=2))
val_evaluator = [dict(type='RegionSelectionMetric')]
test_evaluator = val_evaluator
