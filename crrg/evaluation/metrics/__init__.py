from .classification_metric import BinaryClassificationMetric
from .clinical_efficacy_metric import (ClinicalEfficacyMetric, ce_scores,
                                       score_clinical_efficacy)
from .radgraph_metric import RadGraphMetric, radgraph_rewards, score_radgraph
from .region_detection_metric import RegionDetectionMetric
from .region_selection_metric import RegionSelectionMetric
from .report_metric import ReportGenerationMetric, score_reports
from .retrieval_metric import ImageTextRetrievalMetric, retrieval_recall

__all__ = [
    'BinaryClassificationMetric', 'ClinicalEfficacyMetric',
    'ImageTextRetrievalMetric', 'retrieval_recall',
    'RadGraphMetric', 'RegionDetectionMetric', 'RegionSelectionMetric',
    'ReportGenerationMetric', 'ce_scores', 'radgraph_rewards',
    'score_clinical_efficacy', 'score_radgraph', 'score_reports'
]
