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
