# Stage-2 schedule on CPU: the region selector, 4 epochs, AdamW lr 1e-3.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = []
