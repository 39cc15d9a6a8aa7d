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

# the base's pipelines at 146 -> 128 px
test_pipeline = [
    _base_.test_pipeline[0],
    dict(_base_.test_pipeline[1], scale=146),
    dict(_base_.test_pipeline[2], crop_size=image_size),
    _base_.test_pipeline[3],
]
train_pipeline = test_pipeline[:-1] + _base_.train_pipeline[3:]
tiny_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    tiny_loader,
    batch_size=16,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    tiny_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-2))
