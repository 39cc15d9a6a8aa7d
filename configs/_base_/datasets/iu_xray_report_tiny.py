# The CPU default of IU X-ray report generation: the synthetic twin
# (tools/make_synthetic_iu_xray.py data/synthetic_iu --image-size 128) at
# 128 px, in-process data loading.
_base_ = './iu_xray_report.py'
data_root = 'data/synthetic_iu/'
image_size = 128

view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.Resize', scale=(image_size, image_size)),
]
pipeline = [
    dict(type='MultiImageViews', transforms=view_pipeline),
    dict(type='mmpretrain.PackInputs', meta_keys={{_base_.report_meta_keys}}),
]
loader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=pipeline))
train_dataloader = loader
val_dataloader = loader
test_dataloader = loader
