"""Helpers only tests use (as ``mmdet.testing``): the real-data cache with a
skip when a file is missing, tiny report generators for the tools' tests.
Product code never imports it; the synthetic twins are
:mod:`crrg.datasets.synthetic`, the tokenizer trainers
:mod:`crrg.models.utils.tokenizer_training`."""
from .real_data import real_data_file_or_skip
from .tiny_rgrg import tiny_rgrg_config
from .tiny_rrg import make_tiny_rrg
from .tokenizers import make_gpt2_shaped_tokenizer

__all__ = [
    'real_data_file_or_skip', 'make_tiny_rrg', 'tiny_rgrg_config',
    'make_gpt2_shaped_tokenizer'
]
