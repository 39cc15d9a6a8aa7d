# The tiny CPU Cascade R-CNN: mmdet's three-stage cascade on the tiny Faster
# R-CNN's ResNet-18 at 1/4 width and 64-channel FPN, 256-d box heads.
_base_ = ['./cascade-rcnn_r50_fpn_regions.py', './tiny_r18_fpn.py']
model = dict(
    backbone=_base_.tiny_backbone,
    neck=_base_.tiny_neck,
    rpn_head=_base_.tiny_rpn_head,
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=[
            dict(head, in_channels=64, fc_out_channels=256)
            for head in _base_.model.roi_head.bbox_head
        ]),
    train_cfg=dict(
        rpn_proposal=_base_.tiny_rpn_proposal,
        rcnn=[
            dict(stage, sampler=dict(stage.sampler, num=256))
            for stage in _base_.model.train_cfg.rcnn
        ]),
    test_cfg=dict(rpn=_base_.tiny_rpn_test))
