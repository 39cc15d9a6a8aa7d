from .inferencer import ReportInferencer, region_dicts, test_pipeline_cfg

__all__ = ['ReportInferencer', 'region_dicts', 'test_pipeline_cfg']
