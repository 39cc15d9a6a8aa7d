# Real size on IU X-ray (R2Gen's annotation.json under data/iu_xray/): a
# ResNet-50 on both views at 224 px, a 3-layer 512-d decoder (beam 3) and
# L = L_CE + L_dir with a frozen R-CLIP-base (ResNet-50 + Bio_ClinicalBERT,
# configs/rclip/rclip-base_r50_bioclinicalbert_mimic.py). The decoder writes
# with Bio_ClinicalBERT's vocabulary (a local copy of the checkpoint).
_base_ = ['./cdl_tiny_iu-xray_synthetic.py']
data_root = 'data/iu_xray/'
image_size = 224
bio_clinical_bert = 'emilyalsentzer/Bio_ClinicalBERT'
model = dict(
    backbone=dict(
        depth=50,
        base_channels=64,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    backbone_channels=2048,
    decoder=dict(
        tokenizer=bio_clinical_bert,
        hidden_size=512,
        num_heads=8,
        intermediate_size=2048),
    clip=dict(
        model='configs/rclip/rclip-base_r50_bioclinicalbert_mimic.py',
        checkpoint='work_dirs/rclip-base_r50_bioclinicalbert_mimic/'
        'epoch_5.pth'))
view_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='mmpretrain.Resize', scale=(image_size, image_size)),
]
pipeline = [
    dict(type='MultiImageViews', transforms=view_pipeline),
    dict(
        type='mmpretrain.PackInputs',
        meta_keys=('gt_report', 'img_id', 'img_paths')),
]
train_dataloader = dict(
    num_workers=4,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(
    num_workers=4,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = dict(
    num_workers=4,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=pipeline))
train_cfg = dict(max_epochs=100, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=100,
         eta_min=1e-6)
]
optim_wrapper = dict(optimizer=dict(lr=1e-4))
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
