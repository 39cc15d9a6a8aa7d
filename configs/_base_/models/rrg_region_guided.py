# Region-guided report generation (RGRG design): the 29-region Faster R-CNN
# R50-FPN, wrapped in a RegionDetector (one box and 1024-d feature per region)
# -> RegionSelector (MLP 1024-512-128-1) -> GPT2RegionHead
# (healx/gpt-2-pubmed-medium, frozen, pseudo self-attention). The stage
# configs in configs/rrg/ switch which part trains.
_base_ = './faster-rcnn_r50_fpn_regions.py'

model = dict(
    _delete_=True,
    type='RegionGuidedReportGenerator',
    data_preprocessor={{_base_.model.data_preprocessor}},
    detector=dict(type='RegionDetector', detector={{_base_.model}}),
    selector=dict(
        type='RegionSelector',
        in_channels=1024,
        hidden_channels=(512, 128),
        pos_weight=1.0,
        loss_weight=1.0,
        threshold=-1.0),
    generator=dict(
        type='GPT2RegionHead',
        in_channels=1024,
        pretrained='healx/gpt-2-pubmed-medium',
        local_files_only=True,
        freeze_lm=True,
        max_new_tokens=60,
        max_report_tokens=500,
        num_beams=4,
        loss_weight=1.0),
    train_detector=False,
    train_selector=True,
    train_generator=False,
    near_duplicate_f1=0.9)
