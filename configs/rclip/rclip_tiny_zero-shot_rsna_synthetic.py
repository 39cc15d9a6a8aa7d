# Zero-shot RSNA pneumonia with the tiny R-CLIP on the synthetic RSNA twin
# (tools/make_synthetic_rsna.py data/synthetic_rsna), 128 px.
#   python tools/test.py configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py \
#       work_dirs/rclip_tiny_synthetic/epoch_10.pth
_base_ = [
    './rclip_r50_bioclinicalbert_zero-shot_rsna.py',
    '../_base_/models/rclip_tiny.py'
]
# The twin's reports never use the words of the CXR-CLIP prompts ("evidence",
# "suggesting", "pneumonia": out of the tiny vocabulary, so those prompts rank
# the twin's images backwards, AUC 0.08 in the main job of 2026-12-01); the tiny
# config prompts with the twin's own normal and opacity phrases instead. The
# real-size config (rclip_r50_bioclinicalbert_zero-shot_rsna.py) keeps the
# CXR-CLIP prompts.
model = dict(
    _base_.rclip_tiny,
    prompts=['No acute cardiopulmonary process.', 'Opacity in the lung.'])
# the twin (tools/make_synthetic_rsna.py data/synthetic_rsna) at 146 -> 128 px
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/synthetic_rsna/',
        pipeline=[
            _base_.test_pipeline[0],
            dict(_base_.test_pipeline[1], scale=146),
            dict(_base_.test_pipeline[2], crop_size=128),
            _base_.test_pipeline[3],
        ]))
