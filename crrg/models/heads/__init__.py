from .binary_linear_cls_head import BinaryLinearClsHead
from .gpt2_region_head import GPT2RegionHead
from .region_selector import RegionSelector
from .transformer_report_head import TransformerReportHead
from .report_tokenizer import (train_report_tokenizer,
                               train_wordpiece_tokenizer)

__all__ = [
    'BinaryLinearClsHead', 'GPT2RegionHead', 'RegionSelector',
    'train_report_tokenizer', 'train_wordpiece_tokenizer',
    'TransformerReportHead'
]
