# The tiny CPU Faster R-CNN: ResNet-18 at 1/4 width, 64-channel FPN, 256-d
# box-head features (the region features), trained from scratch.
_base_ = ['./faster-rcnn_r50_fpn_regions.py', './tiny_r18_fpn.py']
model = dict(
    backbone=_base_.tiny_backbone,
    neck=_base_.tiny_neck,
    rpn_head=_base_.tiny_rpn_head,
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=_base_.tiny_rpn_proposal,
        rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(rpn=_base_.tiny_rpn_test))
