# Chest ImaGenome with RGRG's pre-processing (ttanida/rgrg,
# src/full_model/train_full_model.py get_transforms): one grey channel,
# longest side 512 with area interpolation, zero padding centred to 512x512
# (CenterPad keeps the offset, so predicted boxes map back to the original
# pixels); normalisation (mean 0.471, std 0.302) is the model's data
# preprocessor. Training adds Gaussian noise and RGRG's affine jitter
# (translate 2 %, rotate 2 degrees); RGRG's colour jitter has no grey
# counterpart in mmdet and is left out.
_base_ = './chest_imagenome_detection.py'
rgrg_meta_keys = _base_.rrg_meta_keys + ('pad_offset', )
rgrg_test_meta_keys = _base_.rrg_test_meta_keys + ('pad_offset', )
train_pipeline = [
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='LoadResizedImage',
        scale=(512, 512),
        keep_ratio=True,
        interpolation='area',
        color_type='grayscale',
        cache_dir=_base_.decode_cache_dir),
    dict(type='CenterPad', size=(512, 512), pad_val=0),
    dict(type='RandomGaussianNoise', std=(0., 8.), prob=0.5),
    dict(
        type='RandomAffine',
        max_rotate_degree=2.0,
        max_translate_ratio=0.02,
        scaling_ratio_range=(1.0, 1.0),
        max_shear_degree=0.0,
        border_val=0),
    dict(type='PackDetInputs', meta_keys=rgrg_meta_keys),
]
test_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='grayscale'),
    dict(
        type='Resize',
        scale=(512, 512),
        keep_ratio=True,
        interpolation='area'),
    dict(type='CenterPad', size=(512, 512), pad_val=0),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=rgrg_test_meta_keys),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
