# The tiny CPU R-CLIP, as a change to rclip_r50_bioclinicalbert.py's model
# (`model = _base_.rclip_tiny` in a config inheriting that model): a
# ResNet-18 with 16 base channels (GroupNorm, 128-d pooled, no ImageNet
# init) and a 2-layer BERT (64-d) on a WordPiece vocabulary built from the
# twin's reports first (tools/train_tokenizer.py --kind wordpiece).
rclip_tiny = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        norm_cfg=dict(type='GN', num_groups=4),
        init_cfg=None),
    text_encoder=dict(
        pretrained=None,
        tokenizer='work_dirs/tokenizers/synthetic-wordpiece',
        bert_config=dict(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            max_position_embeddings=256),
        max_length=128),
    image_channels=128,
    embed_dim=64)
