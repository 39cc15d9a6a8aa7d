from .directional_distance_metric import DirectionalDistanceMetric
from .directional_loss_generator import (ClipDirectionalReportGenerator,
                                         directional_distance)

__all__ = [
    'ClipDirectionalReportGenerator', 'DirectionalDistanceMetric',
    'directional_distance'
]
