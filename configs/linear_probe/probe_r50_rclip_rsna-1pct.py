# RSNA pneumonia, 1% of the training split: linear probe on R-CLIP's frozen
# image tower, loaded from an R-CLIP checkpoint (its `backbone.` weights):
#   python tools/train.py configs/linear_probe/probe_r50_rclip_rsna-1pct.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<R-CLIP .pth>
#   python tools/test.py configs/linear_probe/probe_r50_rclip_rsna-1pct.py \
#       work_dirs/probe_r50_rclip_rsna-1pct/best_binary_auc_epoch_*.pth
_base_ = [
    '../_base_/models/linear_probe_r50.py',
    '../_base_/datasets/rsna_pneumonia.py',
    '../_base_/schedules/linear_probe.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/rclip_r50_bioclinicalbert_mimic/'
            'epoch_5.pth',
            prefix='backbone.')))
# keep the checkpoint with the best validation AUC
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=10,
        max_keep_ckpts=1,
        save_best='binary/auc',
        rule='greater'))
