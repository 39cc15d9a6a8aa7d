# The CPU default: a tiny Faster R-CNN (ResNet-18 at 1/4 width, 64-channel FPN,
# 256-d box-head features) trained from scratch on the synthetic twin at 256 px.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_regions.py',
    '../_base_/datasets/chest_imagenome_detection_tiny.py',
    '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(scales=[4, 8])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(rpn=dict(nms_pre=600, max_per_img=300)))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[6], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.0001))

val_evaluator = [
    dict(type='CocoMetric', ann_file=None, metric='bbox'),
    dict(type='RegionDetectionMetric'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=4))
