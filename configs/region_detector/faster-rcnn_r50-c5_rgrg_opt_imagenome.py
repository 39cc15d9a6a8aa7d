# Detector swap by config only: RGRG's Faster R-CNN design — ResNet-50 C5
# (one 2048-channel map, stride 32, 16x16 at 512 px) without FPN, anchors of
# sizes 20-300 px with 16 aspect ratios, RoIAlign 8x8, average-pooled RoI
# feature -> Linear(2048 -> 1024) as the region feature.
_base_ = './faster-rcnn_r50_fpn_opt_imagenome.py'
anchor_sizes = [20, 40, 60, 80, 100, 120, 140, 160, 180, 300]
model = dict(
    backbone=dict(out_indices=(3, )),
    neck=None,
    rpn_head=dict(
        in_channels=2048,
        feat_channels=1024,
        anchor_generator=dict(
            _delete_=True,
            type='AnchorGenerator',
            strides=[32],
            scales=[size / 32 for size in anchor_sizes],
            ratios=[
                0.2, 0.25, 0.33, 0.5, 0.66, 0.75, 1.0, 1.33, 1.5, 2.0, 2.5,
                3.0, 4.0, 5.0, 6.0, 8.0
            ])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=8),
            out_channels=2048,
            featmap_strides=[32]),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            in_channels=2048,
            roi_feat_size=8,
            with_avg_pool=True,
            num_shared_fcs=1,
            fc_out_channels=1024)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=2000, max_per_img=2000)),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=1000)))
