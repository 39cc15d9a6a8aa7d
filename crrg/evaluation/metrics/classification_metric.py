from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from crrg.registry import METRICS


def positive_probability(score) -> float:
    """The positive-class probability from a ``pred_score``.

    ``pred_score`` is a scalar or a (1,) tensor (the positive probability) or
    a (2,) tensor of class probabilities (index 1 is positive).
    """
    score = torch.as_tensor(score).flatten().float()
    if score.numel() == 1:
        return float(score[0])
    if score.numel() == 2:
        return float(score[1])
    raise ValueError('BinaryClassificationMetric: pred_score must have 1 or '
                     f'2 elements, got shape {tuple(score.shape)}')


@METRICS.register_module()
class BinaryClassificationMetric(BaseMetric):
    """ROC-AUC, accuracy and F1 of a binary classifier (e.g. a linear probe).

    Reads mmpretrain ``DataSample`` fields: ``pred_score`` (see
    :func:`positive_probability`) and ``gt_label`` (0 or 1). AUC is
    scikit-learn's ``roc_auc_score`` on the probabilities; accuracy and F1
    threshold the probability at ``threshold`` (positive when ``>=``).
    All three are fractions in [0, 1].

    Args:
        threshold (float): Decision threshold. Defaults to 0.5.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'binary'.
    """
    default_prefix: Optional[str] = 'binary'

    def __init__(self,
                 threshold: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.threshold = threshold

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            label = int(torch.as_tensor(sample['gt_label']).flatten()[0])
            self.results.append(
                (positive_probability(sample['pred_score']), label))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        probs = np.array([r[0] for r in results])
        labels = np.array([r[1] for r in results])
        if len(np.unique(labels)) < 2:
            raise ValueError(
                'BinaryClassificationMetric: AUC needs both classes in the '
                f'evaluation set, got only label(s) {np.unique(labels)} over '
                f'{len(labels)} samples')
        preds = (probs >= self.threshold).astype(int)
        return dict(
            auc=float(roc_auc_score(labels, probs)),
            accuracy=float(accuracy_score(labels, preds)),
            f1=float(f1_score(labels, preds, zero_division=0)))
