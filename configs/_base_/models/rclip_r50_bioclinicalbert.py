# R-CLIP: ResNet-50 (ImageNet init, global average pooling, 2048-d) and
# Bio_ClinicalBERT (eos pooling, 256 tokens), linear projections with bias to
# 512, learnable temperature (init 0.07), CXR-CLIP's losses with CRRG-CLIP's
# weights (image_to_image 1, text_to_text 0.5, loss_ratio 1).
# Neither checkpoint is downloaded at run time: put Bio_ClinicalBERT in a
# local directory (or the HF cache with HF_HUB_OFFLINE=1) and the torchvision
# ResNet-50 in the torch hub cache (see docs/data.md).
model = dict(
    type='RCLIP',
    data_preprocessor=dict(
        type='mmpretrain.SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    text_encoder=dict(
        type='HFTextEncoder',
        pretrained='emilyalsentzer/Bio_ClinicalBERT',
        max_length=256),
    image_channels=2048,
    embed_dim=512,
    losses=dict(
        mvs=dict(
            type='MultiViewSupervisedContrastiveLoss',
            label_smoothing=0.0,
            loss_weight=1.0),
        icl=dict(type='ImageContrastiveLoss', loss_weight=1.0),
        tcl=dict(type='TextContrastiveLoss', loss_weight=0.5)))
