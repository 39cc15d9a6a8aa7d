# Zero-shot RSNA pneumonia with a converted CXR-CLIP ResNet-50 (CXR-CLIP's
# prompts and evaluation pre-processing; see docs/model_zoo.md):
#   python tools/test.py configs/rclip/cxr-clip_r50_bioclinicalbert_zero-shot_rsna.py \
#       cxr-clip_r50_mc.pth
_base_ = [
    './rclip_r50_bioclinicalbert_zero-shot_rsna.py',
    '../_base_/models/cxr-clip_r50_bioclinicalbert.py'
]
model = _base_.cxrclip_r50
test_dataloader = dict(dataset=dict(pipeline=_base_.cxrclip_test_pipeline))
