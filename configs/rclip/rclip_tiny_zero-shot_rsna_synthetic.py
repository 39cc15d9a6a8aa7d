# Zero-shot RSNA pneumonia with the tiny R-CLIP on the synthetic RSNA twin
# (tools/make_synthetic_rsna.py data/synthetic_rsna), 128 px.
#   python tools/test.py configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py \
#       work_dirs/rclip_tiny_synthetic/epoch_10.pth
_base_ = ['./rclip_tiny_synthetic.py']
model = dict(
    type='RCLIPZeroShot',
    prompts=['No evidence of pneumonia', 'Findings suggesting pneumonia.'],
    data_preprocessor=dict(
        _delete_=True,
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='RSNAPneumoniaDataset',
        data_root='data/synthetic_rsna/',
        split='test',
        pipeline=[
            dict(type='LoadDicomImage'),
            dict(type='mmpretrain.ResizeEdge', scale=146, edge='short'),
            dict(type='mmpretrain.CenterCrop', crop_size=128),
            dict(type='mmpretrain.PackInputs'),
        ]))
test_evaluator = dict(_delete_=True, type='BinaryClassificationMetric')
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
