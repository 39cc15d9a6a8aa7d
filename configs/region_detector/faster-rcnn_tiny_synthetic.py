# The CPU default: the tiny Faster R-CNN trained from scratch on the synthetic
# twin at 256 px.
_base_ = [
    '../_base_/models/faster-rcnn_tiny_regions.py',
    '../_base_/datasets/chest_imagenome_detection_tiny.py',
    '../_base_/schedules/rrg_tiny_detector.py', '../_base_/default_runtime.py'
]
default_hooks = dict(checkpoint=dict(interval=4))
