# Stage 1 of RRG-opt with a detector swap by config: mmdet's Cascade R-CNN
# R50-FPN for the 29 regions, the opt schedule (10 ep, lr 1e-3, plateau).
_base_ = [
    '../_base_/models/cascade-rcnn_r50_fpn_regions.py',
    '../_base_/datasets/chest_imagenome_detection.py',
    '../_base_/schedules/rrg_opt_detector.py', '../_base_/default_runtime.py'
]
