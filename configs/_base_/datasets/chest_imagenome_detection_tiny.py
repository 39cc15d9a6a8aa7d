# The CPU default: the synthetic twin (tools/make_synthetic_dataset.py) at
# 256 px. Its few deliberately broken studies are skipped and counted.
_base_ = './chest_imagenome_detection.py'

data_root = 'data/synthetic/'
image_size = 256
skip_invalid = True
# the twin writes both protocols' files; the tiny runs keep MIMIC-CXR's split
# and every study with FINDINGS, as the measured figures in docs/results.md
split_protocol = 'mimic'

# the base's steps at 256 px; training reads the PNGs with the X-ray loader
resize_pad = [
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
]
train_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='LoadAnnotations', with_bbox=True),
] + resize_pad + _base_.train_pipeline[3:]
test_pipeline = _base_.test_pipeline[:1] + resize_pad + \
    _base_.test_pipeline[3:]

# in-process loading; the test split shares the validation settings (its
# split name comes from the base)
tiny_loader = dict(batch_size=4, num_workers=0, persistent_workers=False)
tiny_dataset = dict(
    data_root=data_root,
    skip_invalid=skip_invalid,
    split_protocol=split_protocol)
train_dataloader = dict(
    tiny_loader,
    dataset=dict(
        tiny_dataset, require_findings=True, pipeline=train_pipeline))
val_dataloader = dict(
    tiny_loader,
    dataset=dict(
        tiny_dataset, require_all_regions=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
