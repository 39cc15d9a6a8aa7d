# CXR-CLIP's ResNet-50 as an RCLIP (../_base_/models/cxr-clip_r50_bioclinicalbert.py):
# MIMIC-CXR image-text retrieval with CXR-CLIP's evaluation pre-processing.
#   python tools/model_converters/cxrclip_to_crrg.py r50_mc.tar cxr-clip_r50_mc.pth
#   python tools/test.py configs/rclip/cxr-clip_r50_bioclinicalbert_mimic.py \
#       cxr-clip_r50_mc.pth
_base_ = [
    './rclip_r50_bioclinicalbert_mimic.py',
    '../_base_/models/cxr-clip_r50_bioclinicalbert.py'
]
model = _base_.cxrclip_r50
# the base's retrieval pipeline with CXR-CLIP's resize and crop of each view
cxrclip_test_view_pipeline = [
    _base_.test_view_pipeline[0], *_base_.cxrclip_eval_transforms
]
test_pipeline = [
    dict(_base_.test_pipeline[0], transforms=cxrclip_test_view_pipeline),
    *_base_.test_pipeline[1:],
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
