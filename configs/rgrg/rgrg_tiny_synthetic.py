# RGRG's whole model (configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py)
# at CPU-test size, with the layout of RGRG's checkpoint kept, so that
# tools/model_converters/rgrg_to_crrg.py converts a checkpoint of this shape:
# a ResNet-50 (its 16 bottlenecks, 1-channel stem) at 1/8 width (one
# 256-channel C5 map), a 256-wide RPN conv, 64-d box-head FCs and region
# features, 32 / 16-d classifier MLPs, GPT-2 with 2 layers of 32 and the
# twin's tokenizer (python tools/train_tokenizer.py
# configs/rrg/rrg-generator_tiny_synthetic.py --out
# work_dirs/tokenizers/synthetic). Pre-processing, anchors, RoIAlign, box
# coding, vote, selection threshold, positions and beam rule are RGRG's; the
# data are the synthetic twin's test split (tools/make_synthetic_dataset.py).
# Random weights only: crrg.testing.tiny_rgrg synthesises a checkpoint in
# RGRG's layout for it (tests/test_tools/test_rgrg_converted_model.py).
_base_ = './rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'
c5_channels = 256
region_channels = 64
model = dict(
    detector=dict(
        detector=dict(
            backbone=dict(base_channels=8),
            rpn_head=dict(in_channels=c5_channels, feat_channels=c5_channels),
            roi_head=dict(
                bbox_roi_extractor=dict(out_channels=c5_channels),
                bbox_head=dict(in_channels=c5_channels, fc_out_channels=64))),
        region_channels=region_channels),
    selector=dict(in_channels=region_channels, hidden_channels=(32, 16)),
    abnormality=dict(in_channels=region_channels, hidden_channels=(32, 16)),
    generator=dict(
        in_channels=region_channels,
        tokenizer='work_dirs/tokenizers/synthetic',
        gpt2_config=dict(n_layer=2, n_embd=32, n_head=2, n_positions=64),
        max_new_tokens=12))
data_root = 'data/synthetic/'
tiny_loader = dict(num_workers=0, persistent_workers=False)
val_dataloader = dict(tiny_loader, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
