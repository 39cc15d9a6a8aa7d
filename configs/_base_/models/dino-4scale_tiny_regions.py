# The tiny CPU DINO: ResNet-18 at 1/4 width, a 2-layer encoder and 3-layer
# decoder with 512-wide feed-forwards, 100 queries. The width stays at 256:
# mmdet's DINO decoder encodes reference points with 128 sine features per
# coordinate, fixed. Region features are the 256-d decoder states.
_base_ = './dino-4scale_r50_regions.py'
embed_dims = 256
model = dict(
    num_queries=100,
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[32, 64, 128],
        out_channels=embed_dims,
        norm_cfg=dict(type='GN', num_groups=8)),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
    positional_encoding=dict(num_feats=embed_dims // 2),
    bbox_head=dict(embed_dims=embed_dims),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=30)),
    test_cfg=dict(max_per_img=100))
