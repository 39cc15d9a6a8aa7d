# Stage 3 on CPU: the tiny GPT-2 region head (rrg_tiny_heads.py) on the
# stage-2 DINO + selector.
_base_ = ['./rrg-selector_dino-4scale_tiny_synthetic.py']
model = dict(
    generator=dict(_base_.tiny_generator, _delete_=True, in_channels=256),
    train_selector=False,
    train_generator=True,
    detector_checkpoint=None)
load_from = 'work_dirs/rrg-selector_dino-4scale_tiny_synthetic/epoch_4.pth'
val_evaluator = [
    dict(type='RegionSelectionMetric'),
    dict(type='ReportGenerationMetric'),
]
test_evaluator = val_evaluator
