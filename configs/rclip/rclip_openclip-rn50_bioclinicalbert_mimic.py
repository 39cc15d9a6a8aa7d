# R-CLIP with an open_clip vision tower in place of the mmpretrain ResNet-50:
# open_clip's modified ResNet-50 ('RN50', attention pooling, 1024-d). Any
# open_clip model name works (e.g. 'ViT-B-16', 512-d: set image_channels);
# `pretrained` takes a local open_clip checkpoint file (never downloaded).
_base_ = ['./rclip_r50_bioclinicalbert_mimic.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='OpenCLIPVisionTower',
        model_name='RN50',
        pretrained=None),
    neck=None,
    image_channels=1024)
