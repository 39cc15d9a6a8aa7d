# What the tiny stage-2 configs (configs/rrg/rrg-selector_*tiny_synthetic.py)
# share: the tiny heads, the synthetic twin, the selector schedule,
# checkpoints every 2 epochs and the selection metric. Each adds its detector.
_base_ = [
    './models/rrg_tiny_heads.py',
    './datasets/chest_imagenome_detection_tiny.py',
    './schedules/rrg_tiny_selector.py', './default_runtime.py'
]
default_hooks = dict(checkpoint=dict(interval=2))
val_evaluator = [dict(type='RegionSelectionMetric')]
test_evaluator = val_evaluator
