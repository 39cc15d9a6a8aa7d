from .base import INFERENCE_PROFILES, BaseReportGenerator
from .region_guided import RegionGuidedReportGenerator, assemble_report

__all__ = [
    'BaseReportGenerator', 'INFERENCE_PROFILES', 'RegionGuidedReportGenerator',
    'assemble_report'
]
