from .base import BaseReportGenerator
from .region_guided import RegionGuidedReportGenerator, assemble_report

__all__ = [
    'BaseReportGenerator', 'RegionGuidedReportGenerator', 'assemble_report'
]
