# The ImageNet-initialisation baseline (torchvision's ResNet-50; needs
# resnet50-*.pth in the torch hub cache, crrg does not download it).
_base_ = ['./probe_r50_rclip_rsna-1pct.py']
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='torchvision://resnet50')))
