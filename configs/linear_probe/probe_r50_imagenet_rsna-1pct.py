# The ImageNet-initialisation baseline: torchvision's ResNet-50 ImageNet weights
# (ResNet50_Weights.IMAGENET1K_V2, the file resnet50-11ad3fa6.pth that
# `torchvision.models.resnet50(weights='IMAGENET1K_V2')` caches in
# ~/.cache/torch/hub/checkpoints/) from a local file; crrg downloads nothing.
# Place the file at the path below or pass
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (torchvision's key names load into mmpretrain's ResNet; fc.* is unused).
_base_ = ['./probe_r50_rclip_rsna-1pct.py']
imagenet_checkpoint = 'checkpoints/resnet50-11ad3fa6.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=imagenet_checkpoint)))
