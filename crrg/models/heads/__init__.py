from .gpt2_region_head import GPT2RegionHead
from .region_selector import RegionSelector
from .report_tokenizer import train_report_tokenizer

__all__ = ['GPT2RegionHead', 'RegionSelector', 'train_report_tokenizer']
