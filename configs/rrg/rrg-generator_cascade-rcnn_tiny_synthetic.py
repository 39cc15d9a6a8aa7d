# Stage 3 on CPU: the tiny GPT-2 region head (rrg_tiny_heads.py) on the
# stage-2 Cascade R-CNN + selector.
_base_ = ['./rrg-selector_cascade-rcnn_tiny_synthetic.py']
model = _base_.tiny_generator_stage
load_from = 'work_dirs/rrg-selector_cascade-rcnn_tiny_synthetic/epoch_4.pth'
val_evaluator = _base_.tiny_generator_evaluators
test_evaluator = val_evaluator
