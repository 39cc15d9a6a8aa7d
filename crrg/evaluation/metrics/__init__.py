from .classification_metric import BinaryClassificationMetric
from .region_detection_metric import RegionDetectionMetric
from .region_selection_metric import RegionSelectionMetric
from .report_metric import ReportGenerationMetric, score_reports

__all__ = [
    'BinaryClassificationMetric', 'RegionDetectionMetric',
    'RegionSelectionMetric', 'ReportGenerationMetric', 'score_reports'
]
