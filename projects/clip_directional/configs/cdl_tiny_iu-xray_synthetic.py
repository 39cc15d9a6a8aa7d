# The CLIP-directional-loss generator on the synthetic IU X-ray twin (CPU): a
# ResNet-18 (16 base channels) on both views at 128 px, a 3-layer 128-d
# decoder (beam 3) and L = L_CE + L_dir with the frozen tiny R-CLIP of
# configs/rclip/rclip_tiny_iu-xray_synthetic.py, whose WordPiece vocabulary
# the decoder shares. See ../README.md for the commands.
_base_ = [
    './_base_/clip-directional_r50.py',
    '../../../configs/_base_/datasets/iu_xray_report_tiny.py',
    '../../../configs/_base_/schedules/report_generator_tiny.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['projects.clip_directional.clip_directional'],
    allow_failed_imports=False)
val_evaluator = [
    dict(
        type='ReportGenerationMetric',
        protocol='r2gen',
        r2gen_dataset='iu_xray'),
    dict(type='DirectionalDistanceMetric'),
]
test_evaluator = val_evaluator
model = dict(
    backbone=dict(depth=18, base_channels=16, init_cfg=None),
    backbone_channels=128,
    decoder=dict(
        tokenizer='work_dirs/tokenizers/synthetic-iu-wordpiece',
        hidden_size=128,
        num_heads=4,
        intermediate_size=512),
    clip=dict(
        model='configs/rclip/rclip_tiny_iu-xray_synthetic.py',
        checkpoint='work_dirs/rclip_tiny_iu/epoch_10.pth'))
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=15, max_keep_ckpts=1))
randomness = dict(seed=0)
