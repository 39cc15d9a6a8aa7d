import numpy as np
import pytest
import torch
from transformers.cache_utils import DynamicCache

from crrg.models.heads import GPT2RegionHead
from crrg.models.utils import train_report_tokenizer

SENTENCES = ['the heart is normal in size.', 'no pleural effusion is seen.',
             'there is a right lower lobe opacity.'] * 10


@pytest.fixture(scope='module')
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('tok')
    train_report_tokenizer(SENTENCES, str(out), vocab_size=300)
    return str(out)


def make_head(tokenizer_dir, **kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=16, tokenizer=tokenizer_dir, max_new_tokens=8,
               gpt2_config=dict(n_layer=2, n_embd=32, n_head=2))
    cfg.update(kwargs)
    return GPT2RegionHead(**cfg)


def test_tokenizer_round_trip(tokenizer_dir):
    from transformers import GPT2TokenizerFast
    tok = GPT2TokenizerFast.from_pretrained(tokenizer_dir)
    ids = tok(SENTENCES[2])['input_ids']
    assert tok.decode(ids) == SENTENCES[2]
    assert tok.eos_token == '<|endoftext|>' == tok.bos_token
    assert len(tok) <= 300


def test_loss_decreases_when_overfitting(tokenizer_dir):
    head = make_head(tokenizer_dir, freeze_lm=False).train()
    feats = torch.randn(2, 16)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = head.loss(feats, SENTENCES[:2])['loss_lm']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5


def test_frozen_lm_unchanged(tokenizer_dir):
    head = make_head(tokenizer_dir, freeze_lm=True)
    head.train()
    assert not head.lm.training
    lm_before = [p.clone() for p in head.lm.parameters()]
    mlp_before = head.key_maps[0].weight.clone()
    opt = torch.optim.Adam(
        [p for p in head.parameters() if p.requires_grad], lr=1e-2)
    head.loss(torch.randn(2, 16), SENTENCES[:2])['loss_lm'].backward()
    opt.step()
    assert all(torch.equal(a, b)
               for a, b in zip(lm_before, head.lm.parameters()))
    assert not torch.equal(mlp_before, head.key_maps[0].weight)


def test_generate_equals_manual_greedy(tokenizer_dir):
    head = make_head(tokenizer_dir, freeze_lm=False).eval()
    feats = torch.randn(3, 16)
    out = head.generate(feats)
    assert len(out) == 3
    tok = head.tokenizer
    for i in range(3):
        ids = [tok.bos_token_id]
        for _ in range(head.max_new_tokens):
            prefix = head.region_prefix(feats[i:i + 1])
            n = len(ids)
            logits = head.lm(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, n + 1, dtype=torch.long),
                position_ids=torch.arange(1, n + 1)[None],
                past_key_values=prefix).logits
            nxt = int(logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            ids.append(nxt)
        assert out[i] == tok.decode(ids[1:]).strip()


def test_beam_search_returns_n(tokenizer_dir):
    head = make_head(tokenizer_dir, num_beams=3).eval()
    out = head.generate(torch.randn(4, 16))
    assert len(out) == 4 and all(isinstance(s, str) for s in out)
    assert head.generate(torch.randn(0, 16)) == []


def test_missing_pretrained_lists_files(tmp_path, tokenizer_dir):
    with pytest.raises(FileNotFoundError) as err:
        GPT2RegionHead(pretrained=str(tmp_path / 'absent'),
                       tokenizer=tokenizer_dir)
    msg = str(err.value)
    for word in ('config.json', 'model.safetensors', 'vocab.json',
                 'HF_HUB_OFFLINE=1', 'local directory'):
        assert word in msg


def reference_generate(head, feats, num_beams):
    """transformers' ``generate`` on the region prefix (the reference)."""
    tok = head.tokenizer
    prefix = head.region_prefix(feats)
    if num_beams > 1:
        prefix = DynamicCache.from_legacy_cache(tuple(
            (k.repeat_interleave(num_beams, 0),
             v.repeat_interleave(num_beams, 0))
            for k, v in prefix.to_legacy_cache()))
    # The first column stands for the prefix slot already in the cache.
    input_ids = torch.full((len(feats), 2), tok.bos_token_id)
    out = head.lm.generate(
        input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
        past_key_values=prefix.to_legacy_cache(),
        max_new_tokens=head.max_new_tokens, min_new_tokens=head.min_new_tokens,
        num_beams=num_beams, do_sample=False, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id)
    return [s.strip()
            for s in tok.batch_decode(out[:, 2:], skip_special_tokens=True)]


def test_long_sentence_fits_position_table(tokenizer_dir):
    # bos + sentence + eos at word positions 1.. must stay below n_positions
    head = make_head(tokenizer_dir, max_new_tokens=4,
                     gpt2_config=dict(n_layer=1, n_embd=32, n_head=2,
                                      n_positions=12))
    long = ' '.join(SENTENCES[:4])
    assert head.count_tokens(long) > 12
    loss = head.loss(torch.randn(2, 16), [long, SENTENCES[0]])['loss_lm']
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match='n_positions=12'):
        make_head(tokenizer_dir, max_new_tokens=12,
                  gpt2_config=dict(n_layer=1, n_embd=32, n_head=2,
                                   n_positions=12))


@pytest.fixture(scope='module')
def trained_head(tokenizer_dir):
    """A tiny GPT-2 head trained to write one sentence per feature cluster."""
    torch.manual_seed(0)
    head = make_head(tokenizer_dir, freeze_lm=False, max_new_tokens=16,
                     gpt2_config=dict(n_layer=2, n_embd=64, n_head=4))
    centres = torch.randn(len(CLUSTER_SENTENCES), 16) * 2
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    head.train()
    for _ in range(120):
        labels = torch.randint(len(CLUSTER_SENTENCES), (16, ))
        feats = centres[labels] + 0.3 * torch.randn(16, 16)
        loss = head.loss(feats, [CLUSTER_SENTENCES[i] for i in labels])
        opt.zero_grad()
        loss['loss_lm'].backward()
        opt.step()
    return head.eval(), centres


CLUSTER_SENTENCES = [
    'the heart is normal in size.', 'no pleural effusion is seen.',
    'there is a right lower lobe opacity.', 'the lungs are clear.',
    'the heart is enlarged.', 'there is a small left pleural effusion.',
    'no pneumothorax is seen.', 'the mediastinum is normal.'
]


@pytest.mark.parametrize('num_beams', [1, 3])
def test_fp32_decoder_equals_transformers_generate(trained_head, num_beams):
    head, centres = trained_head
    torch.manual_seed(1)
    # trained clusters (stop at eos) and far-off features (run to the limit)
    feats = torch.cat([centres + 0.3 * torch.randn_like(centres),
                       torch.randn(4, 16) * 6])
    head.num_beams = num_beams
    try:
        ours = head.generate(feats)
        ref = reference_generate(head, feats, num_beams)
    finally:
        head.num_beams = 1
    assert ours == ref
    assert sum(s in CLUSTER_SENTENCES for s in ours) >= len(centres) // 2


def test_min_new_tokens_and_no_padding_warning(tokenizer_dir, caplog):
    from transformers.utils import logging as hf_logging
    head = make_head(tokenizer_dir, max_new_tokens=6, min_new_tokens=6).eval()
    hf_logging.enable_propagation()
    try:
        with caplog.at_level('WARNING'):
            out = head.generate(torch.randn(3, 16))
            head.num_beams = 2
            head.generate(torch.randn(3, 16))
    finally:
        hf_logging.disable_propagation()
    assert 'right-padding' not in caplog.text
    ids = head.decoder.generate(*head.region_slots(torch.randn(3, 16)),
                                head.tokenizer.bos_token_id,
                                head.tokenizer.eos_token_id, 6,
                                min_new_tokens=6)
    assert [len(i) for i in ids] == [6, 6, 6]
    assert len(out) == 3


def test_decoder_repacked_after_weights_change(trained_head):
    head, centres = trained_head
    head.inference_precision = 'bf16'
    try:
        first = head.decoder
        assert head.decoder is first
        before = head.generate(centres)
        state = {k: v.clone() for k, v in head.lm.state_dict().items()}
        with torch.no_grad():
            head.lm.transformer.wte.weight.mul_(-1)
        assert head.decoder is not first
        assert head.generate(centres) != before
        head.lm.load_state_dict(state)
        assert head.generate(centres) == before
    finally:
        head.inference_precision = 'fp32'
    with pytest.raises(ValueError, match='inference_precision'):
        make_head(trained_head[0].tokenizer.name_or_path,
                  inference_precision='fp16')


def corpus_scores(reports, references):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    from crrg.structures import clean_report
    res = {i: [clean_report(r, 'mimic_cxr')] for i, r in enumerate(reports)}
    gts = {i: [clean_report(r, 'mimic_cxr')]
           for i, r in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return bleu[3], cider


@pytest.mark.parametrize('precision', ['bf16', 'int8'])
def test_quality_guard_fast_precisions(trained_head, precision):
    """bf16 / int8 reports against fp32 on the trained tiny head, greedy and
    beam 3: the same sentence for >= 95% of regions, and BLEU-4, CIDEr and
    CE F1 within 0.01. CE F1 is crrg's ClinicalEfficacyMetric with the
    rule-based CheXpert labeler, both micro over the 14 conditions
    (uncertain = positive) and example-based over 14 (uncertain =
    negative)."""
    from crrg.evaluation.labelers import (NEGATIVE, POSITIVE,
                                          RuleBasedCheXpertLabeler)
    head, centres = trained_head
    torch.manual_seed(2)
    images, regions = 12, 6
    labels = torch.randint(len(centres), (images, regions))
    feats = (centres[labels] + 0.5 * torch.randn(images, regions, 16)).view(
        -1, 16)
    references = [' '.join(CLUSTER_SENTENCES[i] for i in row)
                  for row in labels.tolist()]
    # the references hold findings the labeler reacts to: positive and
    # negative mentions of several conditions
    ref_labels = RuleBasedCheXpertLabeler()(references)
    assert (ref_labels == POSITIVE).any(0).sum() >= 3
    assert (ref_labels == NEGATIVE).any(0).sum() >= 3
    for num_beams in (1, 3):
        head.num_beams = num_beams
        outputs = {}
        for p in ('fp32', precision):
            head.inference_precision = p
            outputs[p] = head.generate(feats)
        head.num_beams, head.inference_precision = 1, 'fp32'
        same = np.mean([a == b for a, b in zip(*outputs.values())])
        assert same >= 0.95
        scores = {
            p: report_scores(join_reports(s, regions), references)
            for p, s in outputs.items()
        }
        # the guard runs on a trained model
        assert scores['fp32']['bleu4'] > 0.3
        assert scores['fp32'][CE_MICRO14] > 0.5
        # and the CE guard can fail: 3 of 72 region sentences (within the
        # 5% the sentence check allows) turned from finding to normal move
        # both CE F1 by more than 0.01
        changed = report_scores(
            join_reports(normalise_findings(outputs['fp32'], 3), regions),
            references)
        for key in (CE_MICRO14, CE_EXAMPLE14):
            assert abs(changed[key] - scores['fp32'][key]) > 0.01
        for key, ref in scores['fp32'].items():
            assert abs(ref - scores[precision][key]) < 0.01, key


CE_MICRO14 = 'ce_rules/f1_micro14_unc-pos'
CE_EXAMPLE14 = 'ce_rules/f1_example14_unc-neg'
#: a finding of CLUSTER_SENTENCES -> the normal sentence of its region
NORMAL_OF = {
    'the heart is enlarged.': 'the heart is normal in size.',
    'there is a small left pleural effusion.': 'no pleural effusion is seen.',
    'there is a right lower lobe opacity.': 'the lungs are clear.'
}


def join_reports(sentences, regions):
    """One report per image from its ``regions`` consecutive sentences."""
    return [
        ' '.join(sentences[i:i + regions])
        for i in range(0, len(sentences), regions)
    ]


def normalise_findings(sentences, num):
    """``sentences`` with the first ``num`` findings made normal."""
    out, left = list(sentences), num
    for i, sentence in enumerate(out):
        if left and sentence in NORMAL_OF:
            out[i], left = NORMAL_OF[sentence], left - 1
    assert left == 0
    return out


def report_scores(reports, references):
    """BLEU-4, CIDEr and CE F1 (:data:`CE_MICRO14`, :data:`CE_EXAMPLE14`)
    of ``reports`` against ``references``."""
    from crrg.evaluation.metrics import ClinicalEfficacyMetric
    bleu4, cider = corpus_scores(reports, references)
    metric = ClinicalEfficacyMetric()
    metric.process(None, [
        dict(pred_report=pred, gt_report=ref)
        for pred, ref in zip(reports, references)
    ])
    ce = metric.evaluate(len(reports))
    return dict(bleu4=bleu4, cider=cider, **{
        key: ce[key]
        for key in (CE_MICRO14, CE_EXAMPLE14)
    })


def test_fast_region_slots(trained_head):
    """bf16 / int8 slots: one packed linear, close to the fp32 maps, and
    repacked when the maps change."""
    head, centres = trained_head
    with torch.no_grad():
        ref_keys, ref_values = head.region_slots(centres)
        try:
            for precision, tol in (('bf16', 0.02), ('int8', 0.03)):
                head.inference_precision = precision
                keys, values = head.fast_region_slots(centres)
                assert keys.shape == ref_keys.shape
                for out, ref in ((keys, ref_keys), (values, ref_values)):
                    err = (out - ref).abs().max() / ref.abs().max()
                    assert 0 < err < tol
            head.key_maps[0].weight.mul_(2)
            keys, _ = head.fast_region_slots(centres)
            new_keys, _ = head.region_slots(centres)
            assert torch.allclose(keys[0], new_keys[0],
                                  atol=0.03 * new_keys[0].abs().max())
            assert not torch.allclose(keys[0], ref_keys[0],
                                      atol=0.03 * ref_keys[0].abs().max())
        finally:
            head.key_maps[0].weight.div_(2)
            head.inference_precision = 'fp32'
    keys, values = head.fast_region_slots(centres)
    assert torch.equal(keys, ref_keys) and torch.equal(values, ref_values)
