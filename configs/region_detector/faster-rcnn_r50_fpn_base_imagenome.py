# Stage 1 of RRG-base: the 29-region Faster R-CNN on MIMIC-CXR / Chest ImaGenome.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_regions.py',
    '../_base_/datasets/chest_imagenome_detection.py',
    '../_base_/schedules/rrg_base_detector.py', '../_base_/default_runtime.py'
]
