# RRG-opt detector schedule (CRRG-CLIP Table 4): 10 epochs, batch 16, lr 1e-3,
# ReduceLROnPlateau(factor 0.5, cooldown 5, patience 5) on the validation mAP.
_base_ = './rrg_adamw.py'
train_cfg = dict(max_epochs=10)
param_scheduler = [
    dict(_base_.rrg_opt_plateau, monitor='coco/bbox_mAP', patience=5)
]
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)
