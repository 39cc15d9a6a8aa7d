# Linear probe: a frozen ResNet-50 (eval mode, 2048-d pooled feature, the
# pre-projection feature of R-CLIP's image tower) and Linear(2048 -> 1) with
# BCE-with-logits. The encoder's weights come from the backbone's init_cfg
# (see configs/linear_probe/); none = random initialisation.
model = dict(
    type='LinearProbeClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='mmpretrain.ResNet', depth=50),
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(type='BinaryLinearClsHead', in_channels=2048))
