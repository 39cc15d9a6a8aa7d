# The CPU default: the synthetic twin (tools/make_synthetic_dataset.py) at
# 256 px. Its few deliberately broken studies are skipped and counted.
_base_ = './chest_imagenome_detection.py'

data_root = 'data/synthetic/'
image_size = 256
skip_invalid = True
# the twin writes both protocols' files; the tiny runs keep MIMIC-CXR's split
# and every study with FINDINGS, as the measured figures in docs/results.md
split_protocol = 'mimic'

train_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
    dict(
        type='YOLOXHSVRandomAug', hue_delta=5, saturation_delta=0,
        value_delta=10),
    dict(type='RandomGaussianNoise', std=(0., 8.), prob=0.5),
    dict(
        type='RandomAffine',
        max_rotate_degree=2.0,
        max_translate_ratio=0.02,
        scaling_ratio_range=(1.0, 1.0),
        max_shear_degree=0.0,
        border_val=(0, 0, 0)),
    dict(type='PackDetInputs', meta_keys={{_base_.rrg_meta_keys}}),
]
test_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys={{_base_.rrg_test_meta_keys}}),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, skip_invalid=skip_invalid,
        split_protocol=split_protocol, require_findings=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, skip_invalid=skip_invalid,
        split_protocol=split_protocol, require_all_regions=False,
        pipeline=test_pipeline))
# the same settings for the test split (its split name comes from the base)
test_dataloader = val_dataloader
