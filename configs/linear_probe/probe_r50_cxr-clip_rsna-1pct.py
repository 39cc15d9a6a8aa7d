# RSNA pneumonia, 1% of the training split: linear probe on the frozen image
# tower of a converted CXR-CLIP ResNet-50 (tools/model_converters/
# cxrclip_to_crrg.py; its `backbone.` weights), evaluated with CXR-CLIP's
# evaluation pre-processing (short side 224 with PIL bilinear, centre crop):
#   python tools/train.py configs/linear_probe/probe_r50_cxr-clip_rsna-1pct.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=cxr-clip_r50_mc.pth
#   python tools/test.py configs/linear_probe/probe_r50_cxr-clip_rsna-1pct.py \
#       work_dirs/probe_r50_cxr-clip_rsna-1pct/best_binary_auc_epoch_*.pth
_base_ = ['./probe_r50_rclip_rsna-1pct.py']
model = dict(
    backbone=dict(init_cfg=dict(checkpoint='cxr-clip_r50_mc.pth')))
cxrclip_test_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=224,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='mmpretrain.CenterCrop', crop_size=224),
    dict(type='mmpretrain.PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=cxrclip_test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=cxrclip_test_pipeline))
