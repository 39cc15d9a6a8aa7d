from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

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

    Returns from :meth:`compute_metrics`: ``mean_iou`` and ``detection_rate``
    (fractions in [0, 1], averaged over regions) and ``iou/<region>`` and
    ``detection_rate/<region>`` per region.
    """
    default_prefix: Optional[str] = 'region'

    def __init__(self,
                 score_thr: float = 0.05,
                 region_names: Sequence[str] = ANATOMICAL_REGIONS,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.score_thr = score_thr
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
        metrics: Dict[str, float] = {}
        rows = []
        for label, name in enumerate(self.region_names):
            mask = labels == label
            if not mask.any():
                continue
            iou, rate = float(ious[mask].mean()), float(detected[mask].mean())
            metrics[f'iou/{name}'] = iou
            metrics[f'detection_rate/{name}'] = rate
            rows.append(f'{name:<26} {iou:>8.3f} {rate:>10.3f} '
                        f'{int(mask.sum()):>6d}')
        region_ious = [v for k, v in metrics.items() if k.startswith('iou/')]
        rates = [v for k, v in metrics.items() if k.startswith('detection')]
        metrics['mean_iou'] = float(np.mean(region_ious)) if rows else 0.0
        metrics['detection_rate'] = float(np.mean(rates)) if rows else 0.0
        table = '\n'.join([
            f'{"region":<26} {"mean IoU":>8} {"det. rate":>10} {"boxes":>6}',
            *rows, f'{"all regions (mean)":<26} {metrics["mean_iou"]:>8.3f} '
            f'{metrics["detection_rate"]:>10.3f}'
        ])
        logger.info('Per-region detection:\n' + table)
        return metrics
