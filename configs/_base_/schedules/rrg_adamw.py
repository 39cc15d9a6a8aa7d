# The AdamW schedule of the RRG stages, as RRG-base's selector and generator
# train (CRRG-CLIP Table 4): 2 epochs, AdamW lr 5e-5, constant lr, validation
# every epoch. The other stages inherit it and change what differs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-5))
param_scheduler = []
# the RRG-opt stages' scheduler: ReduceLROnPlateau(factor 0.5, cooldown 5) on
# a validation score; each stage sets its monitor and patience
rrg_opt_plateau = dict(
    type='ReduceOnPlateauLR',
    rule='greater',
    factor=0.5,
    cooldown=5,
    by_epoch=True)
