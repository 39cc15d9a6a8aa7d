# RSNA pneumonia, 1% of the training split: linear probe on the frozen image
# tower of a converted CXR-CLIP ResNet-50 (tools/model_converters/
# cxrclip_to_crrg.py; its `backbone.` weights), evaluated with CXR-CLIP's
# evaluation pre-processing (../_base_/models/cxr-clip_r50_bioclinicalbert.py):
#   python tools/train.py configs/linear_probe/probe_r50_cxr-clip_rsna-1pct.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=cxr-clip_r50_mc.pth
#   python tools/test.py configs/linear_probe/probe_r50_cxr-clip_rsna-1pct.py \
#       work_dirs/probe_r50_cxr-clip_rsna-1pct/best_binary_auc_epoch_*.pth
_base_ = [
    './probe_r50_rclip_rsna-1pct.py',
    '../_base_/models/cxr-clip_r50_bioclinicalbert.py'
]
model = dict(
    backbone=dict(init_cfg=dict(checkpoint='cxr-clip_r50_mc.pth')))
val_dataloader = dict(dataset=dict(pipeline=_base_.cxrclip_test_pipeline))
test_dataloader = val_dataloader
