# RGRG's detector design at CPU-test size (configs/_base_/models/
# faster-rcnn_r50-c5_rgrg.py with a ResNet-18 at 1/4 width: one 128-channel
# C5 map, a 128-wide RPN conv, 64-d box-head FCs), trained from scratch.
_base_ = './faster-rcnn_r50-c5_rgrg.py'
model = dict(
    backbone=dict(depth=18, base_channels=16, norm_eval=False),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=64)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(rpn=dict(nms_pre=600, max_per_img=300)))
