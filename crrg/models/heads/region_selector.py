from typing import Dict, Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from crrg.registry import MODELS


@MODELS.register_module()
class RegionSelector(BaseModule):
    """Decides which regions deserve a sentence (RGRG's selection classifier).

    An MLP ``in_channels -> 512 -> 128 -> 1`` with ReLU scores each region
    feature; trained with BCE-with-logits and ``pos_weight`` on detected
    regions only (an undetected region's feature is not that region's).

    Args:
        in_channels (int): Region feature size C. Defaults to 1024.
        hidden_channels (Sequence[int]): Hidden layer sizes.
            Defaults to (512, 128).
        pos_weight (float): Weight of positive examples in the BCE (CRRG-CLIP:
            1 in RRG-base, 2 in RRG-opt; RGRG 2.2). Defaults to 1.0.
        threshold (float): A region is selected when its logit exceeds this
            (RGRG: -1). Defaults to -1.0.
        loss_weight (float): Defaults to 1.0.
        init_cfg (dict, optional): Initialisation config.
    """
    #: the key of :meth:`loss`'s output
    loss_name = 'loss_selection'

    def __init__(self,
                 in_channels: int = 1024,
                 hidden_channels: Sequence[int] = (512, 128),
                 pos_weight: float = 1.0,
                 threshold: float = -1.0,
                 loss_weight: float = 1.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        layers = []
        for width in hidden_channels:
            layers += [nn.Linear(in_channels, width), nn.ReLU(inplace=True)]
            in_channels = width
        layers.append(nn.Linear(in_channels, 1))
        self.mlp = nn.Sequential(*layers)
        self.pos_weight = pos_weight
        self.threshold = threshold
        self.loss_weight = loss_weight

    def forward(self, features: Tensor) -> Tensor:
        """Logits (B, R) of region features (B, R, C)."""
        return self.mlp(features).squeeze(-1)

    def loss(self, features: Tensor, detected: Tensor,
             labels: Tensor) -> Dict[str, Tensor]:
        """BCE-with-logits on detected regions.

        Args:
            features (Tensor): (B, R, C) region features.
            detected (Tensor): (B, R) bool.
            labels (Tensor): (B, R) bool or float, 1 = has a sentence.

        Returns:
            dict[str, Tensor]: ``loss_name`` (``loss_selection``): a scalar;
            0 with a gradient path when nothing is detected.
        """
        logits = self(features)
        mask = detected.bool()
        if not mask.any():
            return {self.loss_name: logits.sum() * 0.}
        loss = F.binary_cross_entropy_with_logits(
            logits[mask],
            labels[mask].float(),
            pos_weight=logits.new_tensor(self.pos_weight))
        return {self.loss_name: self.loss_weight * loss}

    def predict(self, features: Tensor) -> Tensor:
        """Selection logits (B, R) of region features (B, R, C)."""
        return self(features)

    def select(self, logits: Tensor, detected: Tensor) -> Tensor:
        """``selected`` (B, R) bool: logit above ``threshold`` and detected."""
        return (logits > self.threshold) & detected.bool()
