"""Synthetic inputs in the real data formats and tiny vocabularies, for tests,
the main job and benchmarks (as ``mmdet.testing``); never imported by crrg's
components."""
from .synthetic import (make_synthetic_iu_xray, make_synthetic_mimic,
                        make_synthetic_rsna, region_template)
from .tiny_rgrg import tiny_rgrg_config
from .tokenizers import (make_gpt2_shaped_tokenizer, train_report_tokenizer,
                         train_wordpiece_tokenizer)

__all__ = [
    'make_synthetic_mimic', 'make_synthetic_iu_xray', 'make_synthetic_rsna',
    'region_template', 'tiny_rgrg_config', 'make_gpt2_shaped_tokenizer',
    'train_report_tokenizer', 'train_wordpiece_tokenizer'
]
