# Zero-shot RSNA pneumonia with a converted CXR-CLIP ResNet-50 (CXR-CLIP's
# prompts and evaluation pre-processing; see docs/model_zoo.md):
#   python tools/test.py configs/rclip/cxr-clip_r50_bioclinicalbert_zero-shot_rsna.py \
#       cxr-clip_r50_mc.pth
_base_ = ['./rclip-base_r50_bioclinicalbert_zero-shot_rsna.py']
# the same model settings as cxr-clip_r50_bioclinicalbert_mimic.py
model = dict(
    max_logit_scale=None,
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
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
test_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadXrayImageFromFile'),
        dict(
            type='mmpretrain.ResizeEdge',
            scale=224,
            edge='short',
            backend='pillow',
            interpolation='bilinear'),
        dict(type='mmpretrain.CenterCrop', crop_size=224),
        dict(type='mmpretrain.PackInputs'),
    ]))
