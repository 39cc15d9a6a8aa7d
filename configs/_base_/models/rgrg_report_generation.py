# RGRG's full model (ttanida/rgrg ReportGenerationModel) as crrg modules:
# its detector (faster-rcnn_r50-c5_rgrg.py) in a RegionDetector whose region
# feature is the pooled RoI map -> Linear(2048 -> 1024); its selection MLP
# (1024-512-128-1, selected = logit > -1 and detected, pos_weight 2.2) and
# abnormality MLP (pos_weight 6, shown only); GPT-2 medium
# (healx/gpt-2-pubmed-medium's shape and vocabulary, weights from the
# converted checkpoint) with pseudo self-attention, RGRG's position quirk
# (wte, from 0) and its decoding (beam 4, max_length 300 counting bos,
# early stopping). tools/model_converters/rgrg_to_crrg.py converts the
# authors' checkpoint into this model.
_base_ = './faster-rcnn_r50-c5_rgrg.py'
model = dict(
    _delete_=True,
    type='RegionGuidedReportGenerator',
    data_preprocessor={{_base_.model.data_preprocessor}},
    detector=dict(
        type='RegionDetector',
        detector={{_base_.model}},
        region_feature='roi',
        region_channels=1024),
    selector=dict(
        type='RegionSelector',
        in_channels=1024,
        hidden_channels=(512, 128),
        pos_weight=2.2,
        loss_weight=5.0,
        threshold=-1.0),
    abnormality=dict(
        type='RegionAbnormalityClassifier',
        in_channels=1024,
        hidden_channels=(512, 128),
        pos_weight=6.0,
        loss_weight=5.0,
        threshold=-1.0),
    generator=dict(
        type='GPT2RegionHead',
        in_channels=1024,
        pretrained=None,
        gpt2_config=dict(
            n_layer=24, n_embd=1024, n_head=16, n_positions=1024),
        tokenizer='healx/gpt-2-pubmed-medium',
        local_files_only=True,
        freeze_lm=True,
        position_embedding='wte',
        first_position=0,
        num_beams=4,
        beam_rule='rgrg',
        max_new_tokens=299,
        max_report_tokens=None,
        clean_up_tokenization_spaces=True,
        loss_weight=2.0),
    train_detector=False,
    train_selector=False,
    train_generator=False)
