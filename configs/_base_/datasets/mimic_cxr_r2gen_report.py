# MIMIC-CXR report generation in R2Gen's protocol: R2Gen's annotation.json
# (train 270,790 / val 2,130 / test 3,858), one frontal image per entry, the
# reference as R2Gen scores it (cleaned, <unk> below 10 training occurrences,
# at most 99 tokens). See docs/data.md.
_base_ = './default_dataloaders.py'
dataset_type = 'R2GenMimicCxrDataset'
data_root = 'data/mimic/'  # holds mimic-cxr-r2gen/ and mimic-cxr-jpg/files
image_size = 224

report_meta_keys = ('gt_report', 'img_id', 'img_path', 'study_id')
# one pipeline for every split: training adds no augmentation
test_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.Resize', scale=(image_size, image_size)),
    dict(type='mmpretrain.PackInputs', meta_keys=report_meta_keys),
]
train_pipeline = test_pipeline

train_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
# predictions get R2Gen's cleaning; the references already have it
val_evaluator = dict(
    type='ReportGenerationMetric', protocol='r2gen', r2gen_dataset='mimic_cxr')
test_evaluator = val_evaluator
