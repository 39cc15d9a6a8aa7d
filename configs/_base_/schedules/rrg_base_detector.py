# RRG-base detector schedule (CRRG-CLIP Table 4): 2 epochs, batch 16, lr 0.01.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
# the schedule's lr is meant for a total batch of 16
auto_scale_lr = dict(enable=False, base_batch_size=16)
