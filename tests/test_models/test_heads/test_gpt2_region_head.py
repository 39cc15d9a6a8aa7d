import pytest
import torch

from crrg.models.heads import GPT2RegionHead
from crrg.testing import train_report_tokenizer

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
