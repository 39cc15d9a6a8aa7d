# RRG-opt detector schedule (CRRG-CLIP Table 4): 10 epochs, batch 16, lr 1e-3,
# ReduceLROnPlateau(factor 0.5, cooldown 5, patience 5) on the validation mAP.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='ReduceOnPlateauLR',
        monitor='coco/bbox_mAP',
        rule='greater',
        factor=0.5,
        patience=5,
        cooldown=5,
        by_epoch=True),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)
