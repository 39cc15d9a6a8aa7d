# The tiny R-CLIP on the synthetic IU X-ray twin: the frozen CLIP of the two
# IU X-ray plugins (projects/clip_directional, projects/retrieval_fusion).
# Image views: the study's frontal and lateral; text views: the report twice,
# the second with shuffled sentences half of the time.
#   python tools/make_synthetic_iu_xray.py data/synthetic_iu
#   python tools/train_tokenizer.py configs/rclip/rclip_tiny_iu-xray_synthetic.py \
#       --kind wordpiece --out work_dirs/tokenizers/synthetic-iu-wordpiece
_base_ = ['./rclip_tiny_synthetic.py']
data_root = 'data/synthetic_iu/'
view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=128,
        crop_ratio_range=(0.7, 1.0)),
    dict(type='mmpretrain.ColorJitter', brightness=0.2, contrast=0.2),
]
model = dict(
    text_encoder=dict(tokenizer='work_dirs/tokenizers/synthetic-iu-wordpiece'))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='IUXrayDataset',
        data_root=data_root,
        split='train',
        pipeline=[
            dict(type='MultiImageViews', transforms=view_pipeline),
            dict(type='SampleTextViews', source_key='gt_report',
                 random_draw=False),
            dict(type='RandomSentenceShuffle', index=1, prob=0.5),
            dict(type='mmpretrain.PackInputs', meta_keys=('texts', 'img_id')),
        ]))
test_view_pipeline = [
    dict(type='LoadXrayImageFromFile', color_type='color'),
    dict(type='mmpretrain.ResizeEdge', scale=128, edge='short'),
    dict(type='mmpretrain.CenterCrop', crop_size=128),
]
test_pipeline = [
    dict(type='MultiImageViews', transforms=test_view_pipeline, num_views=1),
    dict(type='SampleTextViews', source_key='gt_report', num_views=1,
         random_draw=False),
    dict(type='mmpretrain.PackInputs', meta_keys=('texts', 'img_id')),
]
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='IUXrayDataset',
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
val_dataloader = dict(
    dataset=dict(test_dataloader['dataset'], split='val'))
