from .region_guided import RegionGuidedReportGenerator, assemble_report

__all__ = ['RegionGuidedReportGenerator', 'assemble_report']
