from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from crrg.registry import MODELS


@MODELS.register_module()
class BinaryLinearClsHead(BaseModule):
    """One linear layer to one logit, trained with BCE-with-logits.

    The linear-probe head of the RSNA pneumonia evaluation. ``predict`` sets
    ``pred_score`` (1,) = sigmoid(logit), the positive probability, and
    ``pred_label`` (threshold 0.5), which ``BinaryClassificationMetric``
    reads; ``gt_label`` is 0 or 1.

    Args:
        in_channels (int): Feature size C of the last (B, C) feature.
        pos_weight (float, optional): BCE weight of positives.
        init_cfg (dict): Defaults to Normal(std=0.01) on the Linear layer.
    """

    def __init__(self,
                 in_channels: int,
                 pos_weight: Optional[float] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(in_channels, 1)
        self.pos_weight = pos_weight

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Logits (B,) of the last (B, C) feature of ``feats``."""
        return self.fc(feats[-1]).squeeze(-1)

    def loss(self, feats: Tuple[Tensor],
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        logits = self(feats)
        labels = torch.cat([s.gt_label for s in data_samples]).to(logits)
        pos_weight = None if self.pos_weight is None else \
            logits.new_tensor(self.pos_weight)
        return dict(loss=F.binary_cross_entropy_with_logits(
            logits, labels, pos_weight=pos_weight))

    def predict(self, feats: Tuple[Tensor],
                data_samples: Optional[Sequence[DataSample]] = None
                ) -> List[DataSample]:
        probs = self(feats).sigmoid()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(probs.size(0))]
        for prob, sample in zip(probs, data_samples):
            sample.set_pred_score(prob.reshape(1)).set_pred_label(
                (prob >= 0.5).long().reshape(1))
        return list(data_samples)
