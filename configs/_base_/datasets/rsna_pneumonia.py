# RSNA Pneumonia Detection Challenge for the linear probe: one label per
# patient (Target), a seeded 70/15/15 patient split, 1% of the training split
# by default; 224 centre crop and colour jitter (CRRG-CLIP).
dataset_type = 'RSNAPneumoniaDataset'
data_root = 'data/rsna/'  # holds stage_2_train_labels.csv, stage_2_train_images/
image_size = 224
train_fraction = 0.01

train_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(type='mmpretrain.ResizeEdge', scale=256, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(type='mmpretrain.ResizeEdge', scale=256, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        train_fraction=train_fraction,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type='BinaryClassificationMetric')
test_evaluator = val_evaluator
