# RSNA Pneumonia Detection Challenge for the linear probe: one label per
# patient (Target), a seeded 70/15/15 patient split, 1% of the training split
# by default; 224 centre crop and colour jitter (CRRG-CLIP).
_base_ = './default_dataloaders.py'
dataset_type = 'RSNAPneumoniaDataset'
data_root = 'data/rsna/'  # holds stage_2_train_labels.csv, stage_2_train_images/
image_size = 224
train_fraction = 0.01

test_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(type='mmpretrain.ResizeEdge', scale=256, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
    dict(type='mmpretrain.PackInputs'),
]
# the test steps plus colour jitter before packing
train_pipeline = test_pipeline[:-1] + [
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
    test_pipeline[-1],
]

test_dataset = dict(
    type=dataset_type, data_root=data_root, pipeline=test_pipeline)
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(
        test_dataset, train_fraction=train_fraction,
        pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=4, dataset=test_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='BinaryClassificationMetric')
test_evaluator = val_evaluator
