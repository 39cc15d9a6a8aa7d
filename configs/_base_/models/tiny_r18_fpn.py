# What the tiny CPU two-stage detectors share (faster-rcnn_tiny_regions.py,
# cascade-rcnn_tiny_regions.py): ResNet-18 at 1/4 width trained from
# scratch, a 64-channel FPN, a 64-channel RPN with two anchor scales and its
# proposal budgets. Each merges them into its mmdet model.
tiny_backbone = dict(
    depth=18,
    base_channels=16,
    frozen_stages=-1,
    norm_eval=False,
    init_cfg=None)
tiny_neck = dict(in_channels=[16, 32, 64, 128], out_channels=64)
tiny_rpn_head = dict(
    in_channels=64, feat_channels=64, anchor_generator=dict(scales=[4, 8]))
tiny_rpn_proposal = dict(nms_pre=1000, max_per_img=300)
tiny_rpn_test = dict(nms_pre=600, max_per_img=300)
