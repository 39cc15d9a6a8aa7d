# R-CLIP on CPU: the synthetic MIMIC-CXR twin at 128 px, a ResNet-18 with 16
# base channels (GroupNorm, 128-d pooled) and a 2-layer BERT (64-d) on a
# WordPiece vocabulary built from the twin's reports first:
#   python tools/train_tokenizer.py configs/rclip/rclip_tiny_synthetic.py \
#       --kind wordpiece --out work_dirs/tokenizers/synthetic-wordpiece
_base_ = ['./rclip-base_r50_bioclinicalbert_mimic.py']
image_size = 128
data_root = 'data/synthetic_clip/'

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        norm_cfg=dict(type='GN', num_groups=4),
        init_cfg=None),
    text_encoder=dict(
        pretrained=None,
        tokenizer='work_dirs/tokenizers/synthetic-wordpiece',
        bert_config=dict(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            max_position_embeddings=256),
        max_length=128),
    image_channels=128,
    embed_dim=64)

view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=image_size,
        crop_ratio_range=(0.7, 1.0)),
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
]
train_dataloader = dict(
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='MultiImageViews', transforms=view_pipeline),
            dict(type='SampleTextViews', random_draw=True),
            dict(type='RandomSentenceShuffle', index=1, prob=0.5),
            dict(
                type='mmpretrain.PackInputs',
                meta_keys=('texts', 'study_id', 'img_paths')),
        ]))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=10,
         eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=10)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=10, max_keep_ckpts=1))

test_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.ResizeEdge', scale=image_size, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
]
test_pipeline = [
    dict(type='MultiImageViews', transforms=test_view_pipeline, num_views=1),
    dict(type='SampleTextViews', num_views=1, random_draw=False),
    dict(
        type='mmpretrain.PackInputs',
        meta_keys=('texts', 'study_id', 'img_paths')),
]
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = test_dataloader.copy()
val_dataloader['dataset'] = dict(
    data_root=data_root, split='validate', pipeline=test_pipeline)
