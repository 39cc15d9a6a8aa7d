# The tiny CPU heads of the RRG stages on the synthetic twin, shared by every
# detector's stage configs (configs/rrg/*_tiny_synthetic.py):
# - the region selector (MLP -> 512 -> 128 -> 1, pos_weight 2; threshold 0
#   chosen on the twin's validation split among -1 (RGRG), 0 and 0.7: the
#   twin's optional normal sentences make -1 select too much);
# - a tiny randomly initialised GPT-2 (2 layers, 128 dims, trained, not
#   frozen) with a byte-level BPE tokenizer trained on the twin's region
#   sentences first:
#     python tools/train_tokenizer.py configs/rrg/rrg-generator_tiny_synthetic.py \
#         --out work_dirs/tokenizers/synthetic
# ``in_channels`` is the detector's region feature size; each stage sets it.
tiny_selector = dict(
    type='RegionSelector',
    hidden_channels=(512, 128),
    pos_weight=2.0,
    threshold=0.0)
tiny_generator = dict(
    type='GPT2RegionHead',
    pretrained=None,
    gpt2_config=dict(n_layer=2, n_embd=128, n_head=4, n_positions=128),
    tokenizer='work_dirs/tokenizers/synthetic',
    freeze_lm=False,
    max_new_tokens=30,
    max_report_tokens=300,
    num_beams=1)
# The stage-2 composition on any tiny detector (256-d region features): a
# stage config adds the detector, its data preprocessor and its checkpoint.
tiny_selector_stage = dict(
    type='RegionGuidedReportGenerator',
    selector=dict(tiny_selector, in_channels=256),
    generator=None,
    train_detector=False,
    train_selector=True,
    train_generator=False)
# The stage-3 change to it: the tiny GPT-2 trains on the stage-2 weights
# (load_from), selection and report metrics.
tiny_generator_stage = dict(
    generator=dict(tiny_generator, _delete_=True, in_channels=256),
    train_selector=False,
    train_generator=True,
    detector_checkpoint=None)
tiny_generator_evaluators = [
    dict(type='RegionSelectionMetric'),
    dict(type='ReportGenerationMetric'),
]
