# R-CLIP on CPU: the synthetic MIMIC-CXR twin at 128 px, a ResNet-18 with 16
# base channels (GroupNorm, 128-d pooled) and a 2-layer BERT (64-d) on a
# WordPiece vocabulary built from the twin's reports first:
#   python tools/train_tokenizer.py configs/rclip/rclip_tiny_synthetic.py \
#       --kind wordpiece --out work_dirs/tokenizers/synthetic-wordpiece
_base_ = [
    './rclip_r50_bioclinicalbert_mimic.py', '../_base_/models/rclip_tiny.py'
]
image_size = 128
data_root = 'data/synthetic_clip/'

model = _base_.rclip_tiny

# the base's pipelines at 128 px (a milder crop in training)
view_pipeline = [
    _base_.view_pipeline[0],
    dict(_base_.view_pipeline[1], scale=image_size,
         crop_ratio_range=(0.7, 1.0)),
    _base_.view_pipeline[2],
]
train_dataloader = dict(
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        pipeline=[dict(_base_.train_pipeline[0], transforms=view_pipeline)] +
        _base_.train_pipeline[1:]))

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
    _base_.test_view_pipeline[0],
    dict(_base_.test_view_pipeline[1], scale=image_size),
    dict(_base_.test_view_pipeline[2], crop_size=image_size),
]
test_pipeline = [
    dict(_base_.test_pipeline[0], transforms=test_view_pipeline),
] + _base_.test_pipeline[1:]
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = dict(
    test_dataloader, dataset=dict(test_dataloader['dataset'],
                                  split='validate'))
