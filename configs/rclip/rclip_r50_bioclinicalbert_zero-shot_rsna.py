# Zero-shot RSNA pneumonia classification with a trained R-CLIP (CXR-CLIP's
# protocol): each test image's embedding is compared with the embeddings of
# the prompts "No evidence of pneumonia" (class 0) and "Findings suggesting
# pneumonia." (class 1); the softmax over the two cosine similarities gives
# the pneumonia probability, scored by AUC and accuracy (argmax) on the RSNA
# test split of the linear probe's dataset base.
#   python tools/test.py configs/rclip/rclip_r50_bioclinicalbert_zero-shot_rsna.py \
#       work_dirs/rclip_r50_bioclinicalbert_mimic/epoch_5.pth
_base_ = [
    '../_base_/models/rclip_r50_bioclinicalbert.py',
    '../_base_/datasets/rsna_pneumonia.py', '../_base_/default_runtime.py'
]
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
# testing only
test_cfg = dict(type='TestLoop')
train_dataloader = None
val_dataloader = None
val_evaluator = None
