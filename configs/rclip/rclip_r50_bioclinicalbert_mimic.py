# R-CLIP-base: trained on the reference reports of MIMIC-CXR's training
# split. Batch 32 is the global batch (e.g. 1 GPU x 32, or 4 x 8 with
# tools/dist_train.sh and --cfg-options train_dataloader.batch_size=8); the
# losses gather embeddings across ranks, so both see the same 32-way
# contrast.
_base_ = [
    '../_base_/models/rclip_r50_bioclinicalbert.py',
    '../_base_/datasets/mimic_cxr_image_text.py',
    '../_base_/schedules/rclip.py', '../_base_/default_runtime.py'
]
