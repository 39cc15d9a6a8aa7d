from .base import (IMAGE_SUFFIXES, BaseXrayInferencer, InferenceItem,
                   expand_inputs, is_image_file, test_pipeline_cfg)
from .chest_checks import (DEFAULT_CHEST_CHECKS, ChestCheck,
                           FrontalChestLayoutCheck, dicom_header_check,
                           header_says_frontal_chest)
from .clip_inferencer import CLIPInferencer
from .report_inferencer import ReportInferencer, region_dicts

__all__ = [
    'BaseXrayInferencer', 'ReportInferencer', 'CLIPInferencer',
    'InferenceItem', 'ChestCheck', 'DEFAULT_CHEST_CHECKS',
    'FrontalChestLayoutCheck', 'dicom_header_check',
    'header_says_frontal_chest', 'IMAGE_SUFFIXES', 'expand_inputs', 'is_image_file',
    'region_dicts', 'test_pipeline_cfg'
]
