# Detector swap by config on CPU: the tiny Cascade R-CNN on the synthetic twin
# at 256 px. Its region features are the last stage's.
_base_ = [
    '../_base_/models/cascade-rcnn_tiny_regions.py',
    '../_base_/datasets/chest_imagenome_detection_tiny.py',
    '../_base_/schedules/rrg_tiny_detector.py', '../_base_/default_runtime.py'
]
default_hooks = dict(checkpoint=dict(interval=4))
