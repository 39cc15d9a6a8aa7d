from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from sklearn.metrics import precision_recall_fscore_support

from crrg.structures import ANATOMICAL_REGIONS
from crrg.registry import METRICS
from .region_detection_metric import classwise_table


@METRICS.register_module()
class RegionSelectionMetric(BaseMetric):
    """Precision/recall/F1 of the region selector.

    Compares ``pred_regions.selected`` with ``region_has_sentence`` per
    region (29 binary problems); logs a per-region table (like mmdet's
    classwise AP table) ending in the micro averages, and returns only the
    four averages, which mmengine prints on one line.

    Returns keys ``selection/precision``, ``selection/recall`` (micro),
    ``selection/f1_micro`` and ``selection/f1_macro`` (mean of the
    per-region F1).

    Args:
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'selection'.
    """

    default_prefix: Optional[str] = 'selection'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Collect (selected, has_sentence) pairs of 29 regions."""
        for sample in data_samples:
            selected = sample['pred_regions']['selected']
            self.results.append(
                (np.asarray(selected.cpu(), dtype=bool),
                 np.asarray(sample['region_has_sentence'], dtype=bool)))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        pred = np.stack([r[0] for r in results])
        gt = np.stack([r[1] for r in results])
        precision, recall, f1, support = precision_recall_fscore_support(
            gt, pred, average=None, zero_division=0)
        micro = precision_recall_fscore_support(
            gt, pred, average='micro', zero_division=0)
        rows = [[
            name, f'{precision[i]:.3f}', f'{recall[i]:.3f}', f'{f1[i]:.3f}',
            str(int(support[i]))
        ] for i, name in enumerate(ANATOMICAL_REGIONS[:gt.shape[1]])]
        table = classwise_table(
            ['region', 'precision', 'recall', 'F1', 'support'],
            rows,
            footer=[
                'all regions (micro)', f'{micro[0]:.3f}', f'{micro[1]:.3f}',
                f'{micro[2]:.3f}',
                str(int(gt.sum()))
            ])
        MMLogger.get_current_instance().info('Per-region selection:\n' +
                                             table)
        return {
            'precision': float(micro[0]),
            'recall': float(micro[1]),
            'f1_micro': float(micro[2]),
            'f1_macro': float(np.mean(f1)),
        }
