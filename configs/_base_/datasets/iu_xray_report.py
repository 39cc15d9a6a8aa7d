# IU X-ray report generation (R2Gen's annotation.json layout, 7:1:2 split):
# both views of a study, reports cleaned as R2Gen does.
dataset_type = 'IUXrayDataset'
data_root = 'data/iu_xray/'  # holds annotation.json and images/
image_size = 224

train_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.Resize', scale=(image_size, image_size)),
    dict(type='mmpretrain.ColorJitter', brightness=0.1, contrast=0.1),
]
test_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.Resize', scale=(image_size, image_size)),
]
report_meta_keys = ('gt_report', 'img_id', 'img_paths')
train_pipeline = [
    dict(type='MultiImageViews', transforms=train_view_pipeline),
    dict(type='mmpretrain.PackInputs', meta_keys=report_meta_keys),
]
test_pipeline = [
    dict(type='MultiImageViews', transforms=test_view_pipeline),
    dict(type='mmpretrain.PackInputs', meta_keys=report_meta_keys),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
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
val_evaluator = dict(
    type='ReportGenerationMetric',
    protocol='r2gen',
    r2gen_dataset='iu_xray')
test_evaluator = val_evaluator
