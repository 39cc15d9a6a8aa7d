# The linear probe on CPU: the synthetic RSNA twin (tools/make_synthetic_rsna.py)
# at 128 px and the frozen image tower of configs/rclip/rclip_tiny_synthetic.py.
#   python tools/train.py configs/linear_probe/probe_tiny_rclip_rsna-1pct_synthetic.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<tiny R-CLIP .pth>
# For the random-initialisation baseline add model.backbone.init_cfg=None.
_base_ = ['./probe_r50_rclip_rsna-1pct.py']
data_root = 'data/synthetic_rsna/'
image_size = 128

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        norm_cfg=dict(type='GN', num_groups=4),
        init_cfg=dict(
            checkpoint='work_dirs/rclip_tiny_synthetic/epoch_10.pth')),
    head=dict(in_channels=128))

train_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(type='mmpretrain.ResizeEdge', scale=146, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(type='mmpretrain.ResizeEdge', scale=146, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=1e-2))
