"""The language-model loss every report head trains with."""
import torch.nn.functional as F
from torch import Tensor


def masked_lm_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Token cross-entropy averaged over the masked-in tokens.

    Args:
        logits (Tensor): (B, T, V) next-token logits.
        targets (Tensor): (B, T) target token ids.
        mask (Tensor): (B, T) bool (or 0/1), True on the tokens that count.

    Returns:
        Tensor: Scalar mean over the ``mask`` tokens (0 with a zero gradient
        path when no token counts).
    """
    ce = F.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), reduction='none')
    weights = mask.flatten().to(ce.dtype)
    return (ce * weights).sum() / weights.sum().clamp(min=1)
