from .base import INFERENCE_PROFILES, BaseReportGenerator
from .region_guided import RegionGuidedReportGenerator, assemble_report
from .rgrg_assembler import RGRGReportAssembler

__all__ = [
    'BaseReportGenerator', 'INFERENCE_PROFILES', 'RGRGReportAssembler',
    'RegionGuidedReportGenerator', 'assemble_report'
]
