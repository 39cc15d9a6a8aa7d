# Real IU X-ray (R2Gen's annotation.json and images/ under data/iu_xray/),
# 224 px, 100 epochs.
_base_ = [
    './_base_/clip-directional_r50.py',
    '../../../configs/_base_/datasets/iu_xray_report.py',
    '../../../configs/_base_/schedules/report_generator_tiny.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['projects.clip_directional.clip_directional'],
    allow_failed_imports=False)
val_evaluator = [
    dict(
        type='ReportGenerationMetric',
        protocol='r2gen',
        r2gen_dataset='iu_xray'),
    dict(type='DirectionalDistanceMetric'),
]
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=100,
         eta_min=1e-6)
]
train_cfg = dict(max_epochs=100, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
