"""The CXR-CLIP losses: MVS, ICL and TCL, as separate registered components.

Every loss takes the L2-normalised embeddings of the two image views
``I1, I2`` and the two text views ``T1, T2`` of a batch of studies, each
(B, D), and the logit scale ``s`` (the model's learnable ``exp(logit_scale)``).
``CE(X)`` is the cross-entropy of the logits X against the diagonal targets.
Under torch.distributed the embeddings are first gathered across ranks with
open_clip's ``gather_features(..., gather_with_grad=True)`` (an autograd
all-gather, as CXR-CLIP's ``all_gather`` with gradient), so each rank computes
the loss of the global batch and its backward pass reaches the features of
every rank. Each rank thus receives ``world_size`` times the global-batch
gradient of its own features, and DDP's average over ranks yields exactly the
single-process gradient of the same global batch (gathering without gradient
would give ``1 / world_size`` of it).
"""
from typing import Dict

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from open_clip.loss import gather_features
from torch import Tensor, nn

from crrg.registry import MODELS


def gather_views(views: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Gather ``I1, I2, T1, T2`` (each (B, D)) across ranks, with gradient.

    Returns (W * B, D) per view, rank 0's rows first; identity on one process.
    """
    world_size = get_world_size()
    if world_size == 1:
        return views
    rank = get_rank()
    i1, t1 = gather_features(views['I1'], views['T1'],
                             gather_with_grad=True, rank=rank,
                             world_size=world_size)
    i2, t2 = gather_features(views['I2'], views['T2'],
                             gather_with_grad=True, rank=rank,
                             world_size=world_size)
    return dict(I1=i1, I2=i2, T1=t1, T2=t2)


def diagonal_ce(logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of (N, N) logits against targets 0..N-1."""
    targets = torch.arange(logits.size(0), device=logits.device)
    return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


@MODELS.register_module()
class MultiViewSupervisedContrastiveLoss(nn.Module):
    """MVS: image-text contrast over every image view x text view pair.

    ``MVS = 1/2 (L_i2t + L_t2i)`` with ``L_i2t = 1/4 sum_{a in {I1, I2},
    b in {T1, T2}} CE(s a b^T)`` and ``L_t2i`` the same over ``CE(s b a^T)``.
    Label smoothing applies only in training mode (CXR-CLIP).

    Args:
        label_smoothing (float): Training-time label smoothing.
            Defaults to 0.0.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, label_smoothing: float = 0.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight

    def forward(self, views: Dict[str, Tensor], logit_scale: Tensor) -> Tensor:
        views = gather_views(views)
        smoothing = self.label_smoothing if self.training else 0.0
        i2t, t2i = 0., 0.
        for a in ('I1', 'I2'):
            for b in ('T1', 'T2'):
                logits = logit_scale * views[a] @ views[b].t()
                i2t = i2t + diagonal_ce(logits, smoothing) / 4
                t2i = t2i + diagonal_ce(logits.t(), smoothing) / 4
        return self.loss_weight * (i2t + t2i) / 2


@MODELS.register_module()
class ImageContrastiveLoss(nn.Module):
    """ICL: ``1/2 (CE(s I1 I2^T) + CE(s I2 I1^T))``.

    Args:
        loss_weight (float): CRRG-CLIP's ``image_to_image`` weight, 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, views: Dict[str, Tensor], logit_scale: Tensor) -> Tensor:
        views = gather_views(views)
        logits = logit_scale * views['I1'] @ views['I2'].t()
        return self.loss_weight * (diagonal_ce(logits) +
                                   diagonal_ce(logits.t())) / 2


@MODELS.register_module()
class TextContrastiveLoss(nn.Module):
    """TCL: ``1/2 (CE(s T2 T1^T) + CE(s T1 T2^T))``.

    Args:
        loss_weight (float): CRRG-CLIP's ``text_to_text`` weight, 0.5.
    """

    def __init__(self, loss_weight: float = 0.5) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, views: Dict[str, Tensor], logit_scale: Tensor) -> Tensor:
        views = gather_views(views)
        logits = logit_scale * views['T2'] @ views['T1'].t()
        return self.loss_weight * (diagonal_ce(logits) +
                                   diagonal_ce(logits.t())) / 2
