from .base import (BaseXrayInferencer, InferenceItem, expand_inputs,
                   test_pipeline_cfg)
from .chest_checks import (DEFAULT_CHEST_CHECKS, ChestCheck,
                           FrontalChestLayoutCheck, dicom_header_check)
from .clip_inferencer import CLIPInferencer
from .dicomweb_worker import run_dicomweb_worker
from .report_inferencer import ReportInferencer

__all__ = [
    'BaseXrayInferencer', 'ReportInferencer', 'CLIPInferencer',
    'InferenceItem', 'ChestCheck', 'DEFAULT_CHEST_CHECKS',
    'FrontalChestLayoutCheck', 'dicom_header_check', 'expand_inputs',
    'test_pipeline_cfg', 'run_dicomweb_worker'
]
