# Stage-2 schedule on CPU: the region selector, 4 epochs, AdamW lr 1e-3.
_base_ = './rrg_adamw.py'
train_cfg = dict(max_epochs=4, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
