# R-CLIP (CRRG-CLIP / CXR-CLIP): AdamW lr 5e-5, weight decay 1e-4, batch 32,
# 5 epochs with 1 linear warm-up epoch, then cosine decay.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        end=5,
        eta_min=0.0,
        convert_to_iter_based=True),
]
# validation (retrieval Recall@K, from the dataset base) after every epoch
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=1)
val_cfg = dict(type='ValLoop')
auto_scale_lr = dict(enable=False, base_batch_size=32)
test_cfg = dict(type='TestLoop')
