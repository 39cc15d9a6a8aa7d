"""The pieces every report generator shares: masked LM loss, view tokens."""
import math

import pytest
import torch

from crrg.models.utils import MultiViewTokens, masked_lm_loss


def test_masked_lm_loss_is_the_mean_over_masked_tokens():
    # uniform logits over 4 tokens: every token's CE is log(4); a confident
    # right token costs ~0, a confident wrong one ~10 (logit gap 10)
    logits = torch.zeros(1, 3, 4)
    logits[0, 1, 2] = 10.0  # right (target 2)
    logits[0, 2, 0] = 10.0  # wrong (target 3), masked out
    targets = torch.tensor([[1, 2, 3]])
    mask = torch.tensor([[True, True, False]])
    expected = (math.log(4) + math.log(1 + 3 * math.exp(-10))) / 2
    assert math.isclose(masked_lm_loss(logits, targets, mask).item(),
                        expected, rel_tol=1e-5)
    # 0/1 masks as transformers' attention masks give the same
    assert masked_lm_loss(logits, targets, mask.long()) == masked_lm_loss(
        logits, targets, mask)
    # nothing to learn from: zero, still connected to the logits
    logits.requires_grad_(True)
    loss = masked_lm_loss(logits, targets, torch.zeros_like(mask))
    loss.backward()
    assert loss.item() == 0 and logits.grad is not None


def test_view_tokens_order_positions_and_views():
    tokens = MultiViewTokens(8, max_views=2)
    maps = [torch.zeros(2, 8, 3, 4), torch.zeros(2, 8, 3, 4)]
    out = tokens(maps)
    assert out.shape == (2, 2 * 3 * 4, 8)
    # the same (empty) map in two views differs only by the view embedding
    diff = out[:, 12:] - out[:, :12]
    view = tokens.view_embed.weight
    torch.testing.assert_close(diff, (view[1] - view[0]).expand_as(diff))
    # positions differ across the map
    assert not torch.allclose(out[0, 0], out[0, 1])
    with pytest.raises(ValueError, match='max_views'):
        tokens(maps * 2)
