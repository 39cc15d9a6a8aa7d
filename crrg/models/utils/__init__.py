from .hf_loading import missing_checkpoint_error
from .lm_loss import masked_lm_loss
from .tokenizer_training import (train_report_tokenizer,
                                 train_wordpiece_tokenizer)
from .view_tokens import MultiViewTokens

__all__ = [
    'missing_checkpoint_error', 'masked_lm_loss', 'MultiViewTokens',
    'train_report_tokenizer', 'train_wordpiece_tokenizer'
]
