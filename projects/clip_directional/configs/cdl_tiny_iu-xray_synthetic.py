# CLIP-directional-loss report generator on the synthetic IU X-ray twin (CPU):
# a ResNet-18 (16 base channels) on both views, a 3-layer decoder (128-d,
# beam 3) and L = L_CE + L_dir with the frozen tiny R-CLIP of
# configs/rclip/rclip_tiny_iu-xray_synthetic.py (decoder and CLIP share its
# WordPiece vocabulary). See ../README.md for the commands.
_base_ = [
    '../../../configs/_base_/datasets/iu_xray_report.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['projects.clip_directional.clip_directional'],
    allow_failed_imports=False)

data_root = 'data/synthetic_iu/'
image_size = 128
clip_config = 'configs/rclip/rclip_tiny_iu-xray_synthetic.py'
clip_checkpoint = 'work_dirs/rclip_tiny_iu/epoch_10.pth'
tokenizer = 'work_dirs/tokenizers/synthetic-iu-wordpiece'

model = dict(
    type='ClipDirectionalReportGenerator',
    data_preprocessor=dict(
        type='mmpretrain.SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='mmpretrain.ResNet', depth=18, base_channels=16),
    backbone_channels=128,
    decoder=dict(
        type='TransformerReportHead',
        tokenizer=tokenizer,
        hidden_size=128,
        num_layers=3,
        num_heads=4,
        intermediate_size=512,
        max_length=60,
        num_beams=3),
    clip=dict(model=clip_config, checkpoint=clip_checkpoint),
    dir_loss_weight=1.0)

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
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=pipeline))
val_evaluator = [
    dict(type='ReportGenerationMetric', clean='iu_xray'),
    dict(type='DirectionalDistanceMetric'),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=15,
         eta_min=1e-5)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=15, val_interval=15)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=15, max_keep_ckpts=1))
randomness = dict(seed=0)
