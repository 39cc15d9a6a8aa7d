from .base import (IMAGE_SUFFIXES, BaseXrayInferencer, InferenceItem,
                   expand_inputs, is_image_file, test_pipeline_cfg)
from .chest_checks import DEFAULT_CHEST_CHECKS, ChestCheck, dicom_header_check
from .clip_inferencer import CLIPInferencer
from .report_inferencer import ReportInferencer, region_dicts

__all__ = [
    'BaseXrayInferencer', 'ReportInferencer', 'CLIPInferencer',
    'InferenceItem', 'ChestCheck', 'DEFAULT_CHEST_CHECKS',
    'dicom_header_check', 'IMAGE_SUFFIXES', 'expand_inputs', 'is_image_file',
    'region_dicts', 'test_pipeline_cfg'
]
