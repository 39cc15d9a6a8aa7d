"""Image views to transformer tokens, shared by the report generators."""
from typing import Sequence

import torch
from mmdet.models.layers import SinePositionalEncoding
from torch import Tensor, nn


class MultiViewTokens(nn.Module):
    """Flatten feature maps of several views into one token sequence.

    Each view's map (B, C, h, w) gets mmdet's normalised 2D sine position
    code and a learnt embedding of its view index, and becomes h * w tokens;
    the views are concatenated in order.

    Args:
        channels (int): C, even.
        max_views (int): Views the view embedding can tell apart.
            Defaults to 8.
    """

    def __init__(self, channels: int, max_views: int = 8) -> None:
        super().__init__()
        self.positions = SinePositionalEncoding(channels // 2, normalize=True)
        self.view_embed = nn.Embedding(max_views, channels)

    def forward(self, feature_maps: Sequence[Tensor]) -> Tensor:
        """Tokens (B, V * h * w, C) of V maps (B, C, h, w)."""
        if len(feature_maps) > self.view_embed.num_embeddings:
            raise ValueError(
                f'MultiViewTokens: {len(feature_maps)} views, at most '
                f'{self.view_embed.num_embeddings}; raise max_views')
        tokens = []
        for v, fmap in enumerate(feature_maps):
            free = fmap.new_zeros(fmap[:, 0].shape, dtype=torch.bool)
            fmap = fmap + self.positions(free)
            tokens.append(
                fmap.flatten(2).transpose(1, 2) + self.view_embed.weight[v])
        return torch.cat(tokens, dim=1)
