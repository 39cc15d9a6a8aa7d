# MIMIC-CXR image-text pairs for R-CLIP: per study two image views (the
# study's second image when it has one, else the frontal re-augmented) and
# two texts drawn from [findings, impression] (CXR-CLIP).
_base_ = './default_dataloaders.py'
dataset_type = 'MimicCxrImageTextDataset'
data_root = 'data/mimic/'  # holds mimic-cxr-jpg/ and mimic-cxr-reports/
image_size = 224

view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=image_size,
        crop_ratio_range=(0.6, 1.0)),
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
]
pack_inputs = dict(
    type='mmpretrain.PackInputs', meta_keys=('texts', 'study_id', 'img_paths'))
train_pipeline = [
    dict(type='MultiImageViews', transforms=view_pipeline),
    dict(type='SampleTextViews', random_draw=True),
    dict(type='RandomSentenceShuffle', index=1, prob=0.5),
    pack_inputs,
]

# Testing: image-text retrieval (Recall@1/5/10) on the test split, one pair
# per study: the frontal image (short side resized, centre crop) and the first
# available text section (FINDINGS, else IMPRESSION).
test_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.ResizeEdge', scale=image_size, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
]
test_pipeline = [
    dict(type='MultiImageViews', transforms=test_view_pipeline, num_views=1),
    dict(type='SampleTextViews', num_views=1, random_draw=False),
    pack_inputs,
]

test_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    image_views='augment',
    pipeline=test_pipeline)
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    drop_last=True,
    dataset=dict(test_dataset, image_views='study', pipeline=train_pipeline))
test_dataloader = dict(batch_size=64, num_workers=4, dataset=test_dataset)
test_evaluator = dict(type='ImageTextRetrievalMetric', topk=(1, 5, 10))
# Validation during training: the same retrieval protocol on the validate split.
val_dataloader = dict(
    test_dataloader, dataset=dict(test_dataset, split='validate'))
val_evaluator = test_evaluator
