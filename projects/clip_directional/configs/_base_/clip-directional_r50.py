# The CLIP-directional-loss report generator at real size: a ResNet-50 on both
# views, a 3-layer 512-d decoder (beam 3) and L = L_CE + L_dir with a frozen
# R-CLIP-base (ResNet-50 + Bio_ClinicalBERT). The decoder writes with the
# CLIP's vocabulary (Bio_ClinicalBERT's, a local copy of the checkpoint).
model = dict(
    type='ClipDirectionalReportGenerator',
    data_preprocessor=dict(
        type='mmpretrain.SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    backbone_channels=2048,
    decoder=dict(
        type='TransformerReportHead',
        tokenizer='emilyalsentzer/Bio_ClinicalBERT',
        hidden_size=512,
        num_layers=3,
        num_heads=8,
        intermediate_size=2048,
        max_length=60,
        num_beams=3),
    clip=dict(
        model='configs/rclip/rclip_r50_bioclinicalbert_mimic.py',
        checkpoint='work_dirs/rclip_r50_bioclinicalbert_mimic/'
        'epoch_5.pth'),
    dir_loss_weight=1.0)
