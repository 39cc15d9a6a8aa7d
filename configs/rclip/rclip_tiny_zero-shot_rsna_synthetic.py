# Zero-shot RSNA pneumonia with the tiny R-CLIP on the synthetic RSNA twin
# (tools/make_synthetic_rsna.py data/synthetic_rsna), 128 px.
#   python tools/test.py configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py \
#       work_dirs/rclip_tiny_synthetic/epoch_10.pth
_base_ = ['./rclip_tiny_synthetic.py']
# The twin's reports never use the words of the CXR-CLIP prompts ("evidence",
# "suggesting", "pneumonia": out of the tiny vocabulary, so those prompts rank
# the twin's images backwards, AUC 0.08 in the main job of 2026-12-01); the tiny
# config prompts with the twin's own normal and opacity phrases instead. The
# real-size config (rclip_r50_bioclinicalbert_zero-shot_rsna.py) keeps the
# CXR-CLIP prompts.
model = dict(
    type='RCLIPZeroShot',
    prompts=['No acute cardiopulmonary process.', 'Opacity in the lung.'],
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
            dict(type='LoadXrayImageFromFile'),
            dict(type='mmpretrain.ResizeEdge', scale=146, edge='short'),
            dict(type='mmpretrain.CenterCrop', crop_size=128),
            dict(type='mmpretrain.PackInputs'),
        ]))
test_evaluator = dict(_delete_=True, type='BinaryClassificationMetric')
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
