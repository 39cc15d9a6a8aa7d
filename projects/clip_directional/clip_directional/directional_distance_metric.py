from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from crrg.registry import METRICS


@METRICS.register_module()
class DirectionalDistanceMetric(BaseMetric):
    """Mean CLIP directional distance of generated reports (lower is better).

    Averages the ``directional_distance`` field that
    ``ClipDirectionalReportGenerator.predict`` sets on each data sample:
    ``1 - cos(E_T(r) - E_I(x), E_T(M(x)) - E_I(x))`` with the generated
    report M(x) as decoded text, in [0, 2].

    Args:
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'clip_dir'.
    """
    default_prefix: Optional[str] = 'clip_dir'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(float(sample['directional_distance']))

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        return dict(distance=float(np.mean(results)))
