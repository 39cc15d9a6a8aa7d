# Detector swap by config only: RGRG's Faster R-CNN as RGRG built it
# (configs/_base_/models/faster-rcnn_r50-c5_rgrg.py: ResNet-50 C5 with a grey
# stem and no FPN, torchvision's anchors / RPN / box coding, RoIAlign 8x8,
# TwoMLPHead), on RGRG's pre-processing, with the RRG-opt schedule.
_base_ = [
    '../_base_/models/faster-rcnn_r50-c5_rgrg.py',
    '../_base_/datasets/chest_imagenome_rgrg.py',
    '../_base_/schedules/rrg_opt_detector.py', '../_base_/default_runtime.py'
]
