# Stage 2 on CPU: the region selector on the frozen tiny DINO
# (configs/region_detector/dino-4scale_tiny_synthetic.py, 256-d region features),
# loaded from that stage's checkpoint.
_base_ = [
    '../_base_/models/dino-4scale_tiny_regions.py',
    '../_base_/rrg_tiny_selector_stage.py'
]
model = dict(
    _base_.tiny_selector_stage,
    _delete_=True,
    data_preprocessor=_base_.model.data_preprocessor,
    detector=dict(type='RegionDetector', detector=_base_.model),
    detector_checkpoint='work_dirs/dino-4scale_tiny_synthetic/epoch_8.pth')
