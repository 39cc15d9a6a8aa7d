# MIMIC-CXR-JPG frontal images with the 29 Chest ImaGenome regions.
# Real-size preprocessing (CRRG-CLIP / RGRG): long side 512, black pad to
# 512x512; training adds hue/value jitter, Gaussian noise and a small random
# translation/rotation that moves the boxes with the image.
_base_ = './default_dataloaders.py'
dataset_type = 'ChestImaGenomeDataset'
data_root = 'data/mimic/'
image_size = 512
skip_invalid = False
# RGRG's protocol: Chest ImaGenome's silver splits minus images_to_avoid.csv;
# training keeps studies without FINDINGS, validation needs FINDINGS and all
# 29 boxes, test needs FINDINGS (RGRG's test.csv + test-2.csv, reported
# together). Set split_protocol = 'mimic' for MIMIC-CXR-JPG's official split
# (docs/data.md lists the published sizes of both).
split_protocol = 'imagenome'

# the RRG fields travel as data-sample metainfo (see docs/data.md)
rrg_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                 'scale_factor', 'region_sentences', 'region_has_sentence',
                 'region_abnormal', 'gt_report')
# ``instances`` lets CocoMetric(ann_file=None) build its ground truth
rrg_test_meta_keys = rrg_meta_keys + ('instances', )

# Training decodes each JPEG straight at the model size (DCT-scaled decode,
# then the size, scale factor and boxes of Resize(keep_ratio=True); see
# LoadResizedImage). A cache folder decodes every image once and later
# epochs read the resized pixels (~0.22 MB per image at 512 px, ~82 GB for
# MIMIC-CXR-JPG's 377,110 images): set decode_cache_dir here or pass
# --cfg-options train_dataloader.dataset.pipeline.1.cache_dir=/path/to/cache
# The test pipeline keeps the X-ray loader + Resize (inference replaces its
# loader by the X-ray loader).
decode_cache_dir = None
train_pipeline = [
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='LoadResizedImage',
        scale=(image_size, image_size),
        keep_ratio=True,
        color_type='color',
        cache_dir=decode_cache_dir),
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
    dict(type='PackDetInputs', meta_keys=rrg_meta_keys),
]
test_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=rrg_test_meta_keys),
]

imagenome_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    split_protocol=split_protocol,
    skip_invalid=skip_invalid)
# mmdet's batching: images of one aspect ratio together, data samples kept
# as a list (pseudo_collate)
train_dataloader = dict(
    num_workers=4,
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        imagenome_dataset, require_findings=False, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    drop_last=False,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        imagenome_dataset,
        split='valid',
        require_all_regions=True,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'], split='test', require_all_regions=False))
# the region detection metrics (RRG stage configs replace them with theirs)
val_evaluator = [
    dict(type='CocoMetric', ann_file=None, metric='bbox'),
    dict(type='RegionDetectionMetric'),
]
test_evaluator = val_evaluator
