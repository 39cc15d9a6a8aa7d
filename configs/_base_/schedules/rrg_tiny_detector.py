# Stage-1 schedule of the tiny CPU detectors on the synthetic twin: 8 epochs,
# AdamW lr 2e-3 with a 100-iteration warm-up, lr x0.1 after epoch 6.
_base_ = './rrg_adamw.py'
train_cfg = dict(max_epochs=8, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[6], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.0001))
