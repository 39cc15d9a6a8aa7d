# The tiny CPU Cascade R-CNN: mmdet's three-stage cascade on the tiny Faster
# R-CNN's ResNet-18 at 1/4 width and 64-channel FPN, 256-d box heads.
_base_ = './cascade-rcnn_r50_fpn_regions.py'
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
        bbox_head=[
            dict(head, in_channels=64, fc_out_channels=256)
            for head in _base_.model.roi_head.bbox_head
        ]),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=[
            dict(stage, sampler=dict(stage.sampler, num=256))
            for stage in _base_.model.train_cfg.rcnn
        ]),
    test_cfg=dict(rpn=dict(nms_pre=600, max_per_img=300)))
