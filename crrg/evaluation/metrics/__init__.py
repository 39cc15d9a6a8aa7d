from .region_detection_metric import RegionDetectionMetric  # noqa: F401
from .classification_metric import BinaryClassificationMetric  # noqa: F401
from .report_metric import ReportGenerationMetric, score_reports  # noqa: F401
from .region_selection_metric import RegionSelectionMetric  # noqa: F401
