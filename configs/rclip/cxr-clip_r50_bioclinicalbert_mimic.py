# CXR-CLIP's ResNet-50 (You et al., MICCAI 2023; r50_m / r50_mc / r50_mcc)
# as an RCLIP: weights from tools/model_converters/cxrclip_to_crrg.py, CXR-CLIP's
# evaluation pre-processing (short side resized to 224 with PIL bilinear,
# centre crop 224, ImageNet normalisation) and its unclamped logit scale.
# The text tower is Bio_ClinicalBERT's architecture; its weights come from the
# converted checkpoint, its vocabulary from Bio_ClinicalBERT's tokenizer
# (a local directory or the HF cache with HF_HUB_OFFLINE=1). See
# docs/model_zoo.md (CXR-CLIP's weights: CC BY-NC(-SA) 4.0, non-commercial).
#   python tools/model_converters/cxrclip_to_crrg.py r50_mc.tar cxr-clip_r50_mc.pth
#   python tools/test.py configs/rclip/cxr-clip_r50_bioclinicalbert_mimic.py \
#       cxr-clip_r50_mc.pth
_base_ = ['./rclip-base_r50_bioclinicalbert_mimic.py']
# Bio_ClinicalBERT's config.json (BERT-base, cased 28,996-token vocabulary)
bio_clinicalbert = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
    hidden_act='gelu',
    layer_norm_eps=1e-12)
model = dict(
    max_logit_scale=None,
    backbone=dict(init_cfg=None),
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        bert_config=bio_clinicalbert,
        tokenizer='emilyalsentzer/Bio_ClinicalBERT',
        max_length=256))
image_size = 224
cxrclip_test_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=image_size,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='mmpretrain.CenterCrop', crop_size=image_size),
]
test_dataloader = dict(
    dataset=dict(pipeline=[
        dict(
            type='MultiImageViews',
            transforms=cxrclip_test_view_pipeline,
            num_views=1),
        dict(type='SampleTextViews', num_views=1, random_draw=False),
        dict(
            type='mmpretrain.PackInputs',
            meta_keys=('texts', 'study_id', 'img_paths')),
    ]))
val_dataloader = dict(dataset=dict(pipeline=test_dataloader['dataset']
                                   ['pipeline']))
