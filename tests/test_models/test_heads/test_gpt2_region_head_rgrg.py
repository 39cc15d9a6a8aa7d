"""GPT2RegionHead's RGRG switches against transformers' GPT-2 run the way
RGRG's ``LanguageModel`` runs it: positions 0, 1, ... looked up in the word
embedding table, and its beam search (``BeamSearchScorer``,
``early_stopping=True``, ``max_length`` counting bos) as under its pinned
transformers 4.19."""
import copy

import pytest
import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache
from transformers.generation.beam_search import BeamSearchScorer

from crrg.models.heads import GPT2RegionHead
from crrg.models.utils.tokenizer_training import train_report_tokenizer

SENTENCES = ['the heart is normal in size.', 'no pleural effusion is seen.',
             'there is a right lower lobe opacity.'] * 10
RGRG = dict(position_embedding='wte', first_position=0, beam_rule='rgrg',
            clean_up_tokenization_spaces=True)


@pytest.fixture(scope='module')
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('tok')
    train_report_tokenizer(SENTENCES, str(out), vocab_size=300)
    return str(out)


def make_head(tokenizer_dir, eos_boost=1.0, **kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=16, tokenizer=tokenizer_dir, max_new_tokens=8,
               gpt2_config=dict(n_layer=2, n_embd=32, n_head=2,
                                n_positions=64), **RGRG)
    cfg.update(kwargs)
    head = GPT2RegionHead(**cfg).eval()
    eos = head.tokenizer.eos_token_id
    with torch.no_grad():  # make eos a frequent candidate (tied lm_head)
        head.lm.transformer.wte.weight[eos] *= eos_boost
    return head


def rgrg_lm(head):
    """The head's GPT-2 with ``wpe`` zeroed: fed ``wte(ids) + wte(pos)`` as
    RGRG's forward computes them, it adds nothing more."""
    lm = copy.deepcopy(head.lm)
    lm.transformer.wpe.weight.data.zero_()
    return lm


def rgrg_prefix(head, features, repeat=1):
    keys, values = head.region_slots(features)
    return DynamicCache.from_legacy_cache(
        tuple((k.repeat_interleave(repeat, 0)[:, :, None],
               v.repeat_interleave(repeat, 0)[:, :, None])
              for k, v in zip(keys, values)))


def rgrg_beam_search(head, features, max_length, num_beams=4):
    """RGRG's ``LanguageModel.beam_search`` on transformers' GPT-2 and its
    ``BeamSearchScorer``; ``decoder_prompt_len`` 1 in ``process`` and 0 in
    ``finalize`` give transformers 4.19's lengths (bos counted, eos not)."""
    lm, tok = rgrg_lm(head), head.tokenizer
    wte, eos = lm.transformer.wte, tok.eos_token_id
    n, k = features.size(0), num_beams
    past = rgrg_prefix(head, features, k)
    ids = torch.full((n * k, 1), tok.bos_token_id)
    scorer = BeamSearchScorer(batch_size=n, num_beams=k, device='cpu',
                              length_penalty=1.0, do_early_stopping=True)
    beam_scores = torch.zeros(n, k)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    while True:
        cur_len = ids.size(1)
        pos = torch.full((n * k, 1), cur_len - 1)
        out = lm(inputs_embeds=wte(ids[:, -1:]) + wte(pos),
                 position_ids=pos, past_key_values=past,
                 attention_mask=torch.ones(n * k, cur_len + 1),
                 use_cache=True)
        past = out.past_key_values
        if isinstance(past, DynamicCache):
            past = past.to_legacy_cache()
        scores = F.log_softmax(out.logits[:, -1], dim=-1)
        vocab = scores.size(-1)
        scores = (scores + beam_scores[:, None]).view(n, k * vocab)
        top, top_ids = scores.topk(2 * k, dim=1)
        beams, tokens = top_ids // vocab, top_ids % vocab
        step = scorer.process(ids, top, tokens, beams, pad_token_id=eos,
                              eos_token_id=eos, decoder_prompt_len=1)
        beam_scores = step['next_beam_scores']
        order = step['next_beam_indices']
        ids = torch.cat([ids[order], step['next_beam_tokens'][:, None]], 1)
        past = DynamicCache.from_legacy_cache(
            tuple((key[order], value[order]) for key, value in past))
        if scorer.is_done or ids.size(1) >= max_length:
            break
    seqs = scorer.finalize(ids, beam_scores, tokens, beams, pad_token_id=eos,
                           eos_token_id=eos, max_length=max_length,
                           decoder_prompt_len=0)['sequences']
    out = []
    for seq in seqs[:, 1:].tolist():
        out.append(seq[:seq.index(eos)] if eos in seq else seq)
    return out


def test_rgrg_positions_in_the_loss(tokenizer_dir):
    head = make_head(tokenizer_dir)
    features = torch.randn(3, 16)
    with torch.no_grad():
        loss = head.loss(features, SENTENCES[:3])['loss_lm']
        tok = head.tokenizer
        lm, losses = rgrg_lm(head), []
        for i, text in enumerate(SENTENCES[:3]):
            ids = torch.tensor([[tok.bos_token_id] + tok(text)['input_ids'] +
                                [tok.eos_token_id]])
            pos = torch.arange(ids.size(1))[None]
            logits = lm(inputs_embeds=lm.transformer.wte(ids) +
                        lm.transformer.wte(pos),
                        position_ids=pos,
                        past_key_values=rgrg_prefix(head, features[i:i + 1]),
                        use_cache=True).logits
            losses.append(F.cross_entropy(logits[0, :-1], ids[0, 1:],
                                          reduction='sum'))
            count = ids.size(1) - 1
        # mean over every target token of the batch
        lengths = [len(tok(t)['input_ids']) + 1 for t in SENTENCES[:3]]
        expected = sum(losses) / sum(lengths)
    assert count == lengths[-1]
    torch.testing.assert_close(loss, expected)
    # crrg's default positions (wpe, from 1) give another loss
    default = make_head(tokenizer_dir, position_embedding='wpe',
                        first_position=1)
    with torch.no_grad():
        other = default.loss(features, SENTENCES[:3])['loss_lm']
    assert not torch.allclose(loss, other)


@pytest.mark.parametrize('max_length,eos_boost,scale',
                         [(40, 1.1, 3.), (40, 1.3, 10.), (6, 1., 3.)])
def test_rgrg_beam_search_equals_rgrg_loop(tokenizer_dir, max_length,
                                           eos_boost, scale):
    head = make_head(tokenizer_dir, eos_boost=eos_boost,
                     max_new_tokens=max_length - 1, num_beams=4)
    torch.manual_seed(1)
    features = torch.randn(6, 16) * scale
    with torch.no_grad():
        expected = rgrg_beam_search(head, features, max_length)
        keys, values = head.fast_region_slots(features)
        tok = head.tokenizer
        kwargs = dict(bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id,
                      max_new_tokens=max_length - 1, num_beams=4)
        got = head.decoder.generate(keys, values, beam_rule='rgrg', **kwargs)
        # the transformers rule (early_stopping=False) differs here
        other = head.decoder.generate(keys, values, **kwargs)
    assert got == expected
    assert other != got
    lengths = {len(seq) for seq in got}
    # truncated beams (finalised, scored by max_length) win somewhere;
    # with eos likelier, against eos hypotheses (scored by their length)
    assert max_length - 1 in lengths
    if eos_boost > 1:
        assert 0 in lengths


def test_rgrg_sentences_decode_with_clean_up(tokenizer_dir, monkeypatch):
    head = make_head(tokenizer_dir, max_new_tokens=4, num_beams=1)
    ids = head.tokenizer('no effusion .')['input_ids']
    monkeypatch.setattr(type(head.decoder), 'generate',
                        lambda self, *args, **kwargs: [ids])
    assert head.generate(torch.randn(1, 16)) == ['no effusion.']
    head.clean_up_tokenization_spaces = False
    assert head.generate(torch.randn(1, 16)) == ['no effusion .']


def test_switch_values_are_checked(tokenizer_dir):
    for key, value in (('position_embedding', 'wxe'), ('first_position', 2),
                       ('beam_rule', 'hf')):
        with pytest.raises(ValueError, match=key):
            make_head(tokenizer_dir, **{key: value})
