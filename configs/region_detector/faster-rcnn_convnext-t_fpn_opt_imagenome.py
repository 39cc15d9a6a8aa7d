# Backbone swap by config only: mmpretrain's ConvNeXt-T in place of ResNet-50.
_base_ = './faster-rcnn_r50_fpn_opt_imagenome.py'
custom_imports = dict(
    imports=['mmpretrain.models', 'crrg.datasets', 'crrg.models',
             'crrg.evaluation', 'crrg.engine', 'crrg.visualization'],
    allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_'
            '20220301-795e9634.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))
