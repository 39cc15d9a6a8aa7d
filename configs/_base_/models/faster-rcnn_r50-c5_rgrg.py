# RGRG's Faster R-CNN (ttanida/rgrg, src/object_detector), as mmdet modules:
# ResNet-50 C5 with a 1-channel stem and no neck (one 2048-channel map,
# stride 32, 16x16 at 512 px); an RPN with a 2048-wide 3x3 conv, torchvision's
# rounded anchors (sizes 20-300, RGRG's 16 aspect ratios in its order: 160
# per location) and proposal filtering (1000 / 1000 test, 2000 / 2000 train,
# NMS 0.7); RoIAlign 8x8 on the stride-32 map with torchvision's alignment
# (aligned=False, sampling ratio 2; crrg.OneMapRoIExtractor: mmdet's extractor
# without the unused buffer it zeroes on one map); torchvision's TwoMLPHead box head
# (2048*8*8 -> 1024 -> 1024) and box coding (weights 1 / 10, 10, 5, 5, its
# clamp). 29 region classes; mmdet puts the background last, where RGRG's
# predictor has it first (tools/model_converters/rgrg_to_crrg.py moves it).
# Input: one grey channel normalised with mean 0.471 / std 0.302 of the
# 0-255 scale, computed as RGRG's albumentations Normalize computes it
# (float32, times the reciprocal of the std). No ImageNet initialisation
# here (its stem has 3 channels): weights come from a converted RGRG
# checkpoint or from training.
_base_ = './faster-rcnn_r50_fpn_regions.py'
rgrg_anchor_sizes = [20, 40, 60, 80, 100, 120, 140, 160, 180, 300]
rgrg_aspect_ratios = [
    0.2, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.3, 1.5, 2.1, 2.6, 3.0,
    5.0, 8.0
]
model = dict(
    data_preprocessor=dict(
        type='crrg.XrayDetDataPreprocessor',
        mean=[0.471],
        std=[0.302],
        normalize_rule='albumentations',
        max_pixel_value=255.,
        bgr_to_rgb=False),
    backbone=dict(
        in_channels=1, out_indices=(3, ), frozen_stages=-1, init_cfg=None),
    neck=None,
    rpn_head=dict(
        type='crrg.TorchvisionRPNHead',
        in_channels=2048,
        feat_channels=2048,
        anchor_generator=dict(
            _delete_=True,
            type='crrg.RoundedAnchorGenerator',
            strides=[32],
            sizes=[rgrg_anchor_sizes],
            ratios=rgrg_aspect_ratios),
        bbox_coder=dict(
            _delete_=True,
            type='crrg.TorchvisionDeltaXYWHBBoxCoder',
            weights=[1., 1., 1., 1.])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='crrg.OneMapRoIExtractor',
            roi_layer=dict(
                type='RoIAlign',
                output_size=8,
                sampling_ratio=2,
                aligned=False,
                use_torchvision=True),
            out_channels=2048,
            featmap_strides=[32]),
        bbox_head=dict(
            in_channels=2048,
            roi_feat_size=8,
            fc_out_channels=1024,
            bbox_coder=dict(
                _delete_=True,
                type='crrg.TorchvisionDeltaXYWHBBoxCoder',
                weights=[10., 10., 5., 5.]))),
    train_cfg=dict(
        rpn_proposal=dict(
            nms_pre=2000, max_per_img=2000, min_bbox_size=1e-3, score_thr=0.),
        rcnn=dict(sampler=dict(num=512, pos_fraction=0.25))),
    test_cfg=dict(
        rpn=dict(
            nms_pre=1000, max_per_img=1000, min_bbox_size=1e-3,
            score_thr=0.),
        rcnn=dict(score_thr=0.01)))
