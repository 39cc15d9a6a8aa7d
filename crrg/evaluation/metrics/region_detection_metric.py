import itertools
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from crrg.structures import ANATOMICAL_REGIONS
from crrg.registry import METRICS


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes (4,)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) \
        - inter
    return float(inter / union) if union > 0 else 0.0


def classwise_table(headers: Sequence[str], rows: Sequence[Sequence],
                    num_groups: int = 1,
                    footer: Optional[Sequence] = None) -> str:
    """A per-region table laid out like mmdet's classwise AP table.

    The rows are dealt into ``num_groups`` side-by-side column groups (as
    mmdet's ``CocoMetric(classwise=True)`` does with its (category, AP)
    pairs), so 29 regions take about 29 / ``num_groups`` lines.

    Args:
        headers (Sequence[str]): Column names of one group.
        rows (Sequence[Sequence]): One row per region, ``len(headers)``
            formatted values each.
        num_groups (int): Column groups side by side. Defaults to 1.
        footer (Sequence, optional): A last row under all groups (e.g. the
            mean over regions), padded with empty cells. Defaults to None.

    Returns:
        str: The table (terminaltables' ``AsciiTable``).
    """
    num_groups = max(1, min(num_groups, len(rows)))
    per_group = -(-len(rows) // num_groups)
    groups = [rows[i * per_group:(i + 1) * per_group]
              for i in range(num_groups)]
    blank = [''] * len(headers)
    data = [list(headers) * num_groups]
    for line in itertools.zip_longest(*groups, fillvalue=blank):
        data.append([cell for row in line for cell in row])
    if footer is not None:
        data.append(list(footer) + blank * (num_groups - 1))
    table = AsciiTable(data)
    if footer is not None:
        table.inner_footing_row_border = True
    return table.table


@METRICS.register_module()
class RegionDetectionMetric(BaseMetric):
    """Per-region IoU and detection rate of one-box-per-region detectors.

    For every image and region with a ground-truth box, the prediction is the
    region's top-scoring box in ``pred_instances`` (original image pixels).
    The region counts as detected when that box scores at least
    ``score_thr``; its IoU is measured whether detected or not (0 when the
    detector output no box for the region).

    Ground truth comes from the data sample's ``instances`` (the dataset's
    original-pixel boxes; pack them with ``PackDetInputs(meta_keys=(...,
    'instances'))``).

    Args:
        score_thr (float): Score from which a region counts as detected.
            Defaults to 0.05 (the detector's test ``score_thr``).
        region_names (Sequence[str]): Names of the labels.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'region'.
        classwise (bool): Also return the per-region figures (to log them
            to the visual backends). Defaults to False.

    The per-region figures are logged as a table (like mmdet's classwise AP
    table); the returned metrics, which mmengine prints on one line, are the
    two means unless ``classwise`` is True.

    Returns from :meth:`compute_metrics`: ``mean_iou`` and ``detection_rate``
    (fractions in [0, 1], averaged over regions) and, with ``classwise``,
    ``iou/<region>`` and ``detection_rate/<region>`` per region.
    """
    default_prefix: Optional[str] = 'region'

    def __init__(self,
                 score_thr: float = 0.05,
                 region_names: Sequence[str] = ANATOMICAL_REGIONS,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 classwise: bool = False) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.score_thr = score_thr
        self.classwise = classwise
        self.region_names = list(region_names)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'instances' not in sample:
                raise KeyError(
                    'RegionDetectionMetric needs the ground-truth boxes as '
                    "data-sample meta 'instances': add it to PackDetInputs' "
                    'meta_keys in the test pipeline')
            pred = sample['pred_instances']
            labels = pred['labels'].cpu().numpy()
            scores = pred['scores'].cpu().numpy()
            bboxes = pred['bboxes'].cpu().numpy()
            # one result per image: mmengine truncates results to the
            # dataset size when it collects them
            image_results = []
            for inst in sample['instances']:
                label = inst['bbox_label']
                mine = np.flatnonzero(labels == label)
                if mine.size == 0:
                    image_results.append((label, 0.0, False))
                    continue
                top = mine[scores[mine].argmax()]
                iou = box_iou(bboxes[top], np.asarray(inst['bbox']))
                image_results.append(
                    (label, iou, bool(scores[top] >= self.score_thr)))
            self.results.append(image_results)

    def compute_metrics(self, results: List) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        results = [r for image_results in results for r in image_results]
        labels = np.array([r[0] for r in results])
        ious = np.array([r[1] for r in results])
        detected = np.array([r[2] for r in results])
        per_region: Dict[str, float] = {}
        rows = []
        for label, name in enumerate(self.region_names):
            mask = labels == label
            if not mask.any():
                continue
            iou, rate = float(ious[mask].mean()), float(detected[mask].mean())
            per_region[f'iou/{name}'] = iou
            per_region[f'detection_rate/{name}'] = rate
            rows.append([name, f'{iou:.3f}', f'{rate:.3f}',
                         str(int(mask.sum()))])
        region_ious = [v for k, v in per_region.items()
                       if k.startswith('iou/')]
        rates = [v for k, v in per_region.items()
                 if k.startswith('detection')]
        metrics = {
            'mean_iou': float(np.mean(region_ious)) if rows else 0.0,
            'detection_rate': float(np.mean(rates)) if rows else 0.0,
        }
        if rows:
            table = classwise_table(
                ['region', 'IoU', 'det. rate', 'boxes'],
                rows,
                num_groups=2,
                footer=[
                    'mean over regions', f'{metrics["mean_iou"]:.3f}',
                    f'{metrics["detection_rate"]:.3f}',
                    str(len(results))
                ])
            logger.info('Per-region detection:\n' + table)
        if self.classwise:
            metrics.update(per_region)
        return metrics
