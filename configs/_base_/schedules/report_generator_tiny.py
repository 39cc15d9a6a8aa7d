# Report generators on the synthetic IU X-ray twin (CPU): AdamW 5e-4, 50
# warm-up iterations, cosine decay over 15 epochs, validation at the end.
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
