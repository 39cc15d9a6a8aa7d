# Zero-shot RSNA pneumonia classification with a trained R-CLIP (CXR-CLIP's
# protocol): each test image's embedding is compared with the embeddings of
# the prompts "No evidence of pneumonia" (class 0) and "Findings suggesting
# pneumonia." (class 1); the softmax over the two cosine similarities gives
# the pneumonia probability, scored by AUC and accuracy (argmax).
#   python tools/test.py configs/rclip/rclip_r50_bioclinicalbert_zero-shot_rsna.py \
#       work_dirs/rclip_r50_bioclinicalbert_mimic/epoch_5.pth
_base_ = ['./rclip_r50_bioclinicalbert_mimic.py']
model = dict(
    type='RCLIPZeroShot',
    prompts=['No evidence of pneumonia', 'Findings suggesting pneumonia.'],
    # single images, not lists of views
    data_preprocessor=dict(
        _delete_=True,
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(init_cfg=None))

rsna_root = 'data/rsna/'  # holds stage_2_train_labels.csv, stage_2_train_images/
test_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type='RSNAPneumoniaDataset',
        data_root=rsna_root,
        split='test',
        pipeline=[
            dict(type='LoadXrayImageFromFile'),
            dict(type='mmpretrain.ResizeEdge', scale=256, edge='short'),
            dict(type='mmpretrain.CenterCrop', crop_size=224),
            dict(type='mmpretrain.PackInputs'),
        ]))
test_evaluator = dict(_delete_=True, type='BinaryClassificationMetric')
# testing only
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
