from .binary_linear_cls_head import BinaryLinearClsHead
from .gpt2_region_head import GPT2RegionHead
from .region_abnormality_classifier import RegionAbnormalityClassifier
from .region_selector import RegionSelector
from .transformer_report_head import TransformerReportHead

__all__ = [
    'BinaryLinearClsHead', 'GPT2RegionHead', 'RegionAbnormalityClassifier',
    'RegionSelector',
    'TransformerReportHead'
]
