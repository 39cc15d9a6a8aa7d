# CXR-CLIP's ResNet-50 (You et al., MICCAI 2023; r50_m / r50_mc / r50_mcc),
# converted by tools/model_converters/cxrclip_to_crrg.py, as a change to
# rclip_r50_bioclinicalbert.py's model (`model = _base_.cxrclip_r50` in a
# config inheriting that model): its unclamped logit scale, no ImageNet init
# (every weight comes from the converted checkpoint) and Bio_ClinicalBERT's
# architecture, whose vocabulary comes from Bio_ClinicalBERT's tokenizer
# (a local directory or the HF cache with HF_HUB_OFFLINE=1). The weights
# expect CXR-CLIP's evaluation pre-processing, `cxrclip_eval_transforms`:
# short side resized to 224 with PIL bilinear, centre crop 224 (ImageNet
# normalisation is the data preprocessor's). See docs/model_zoo.md
# (CXR-CLIP's weights: CC BY-NC(-SA) 4.0, non-commercial).
cxrclip_r50 = dict(
    max_logit_scale=None,
    backbone=dict(init_cfg=None),
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        # Bio_ClinicalBERT's config.json (BERT-base, cased 28,996 tokens)
        bert_config=dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=512,
            type_vocab_size=2,
            hidden_act='gelu',
            layer_norm_eps=1e-12),
        tokenizer='emilyalsentzer/Bio_ClinicalBERT',
        max_length=256))
cxrclip_eval_transforms = [
    dict(
        type='mmpretrain.ResizeEdge',
        scale=224,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='mmpretrain.CenterCrop', crop_size=224),
]
# one image per sample (RSNA zero-shot and linear probe)
cxrclip_test_pipeline = [
    dict(type='LoadXrayImageFromFile'),
    *cxrclip_eval_transforms,
    dict(type='mmpretrain.PackInputs'),
]
