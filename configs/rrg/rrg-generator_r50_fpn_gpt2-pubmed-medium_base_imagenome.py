# Stage 3 (RRG-base): GPT-2 region head (frozen LM, trained injection
# layers) on the stage-2 detector + selector, token budget 500.
# `finetune = True` (edit here, or in a config inheriting this one that
# re-sets model.train_detector/train_selector) also trains the detector and
# the selector; from the command line use
# --cfg-options model.train_detector=True model.train_selector=True.
_base_ = [
    '../_base_/models/rrg_region_guided.py',
    '../_base_/datasets/chest_imagenome_detection.py',
    '../_base_/default_runtime.py'
]
finetune = False
model = dict(
    train_detector=finetune,
    train_selector=finetune,
    train_generator=True,
    generator=dict(max_report_tokens=500))
load_from = 'work_dirs/rrg-selector_r50_fpn_base_imagenome/epoch_2.pth'

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-5))
param_scheduler = []
train_dataloader = dict(batch_size=1)
# scored as RGRG and CRRG-CLIP score (their published rows in metrics.md)
val_evaluator = [
    dict(type='RegionSelectionMetric'),
    dict(type='ReportGenerationMetric', protocol='rgrg'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=1))
