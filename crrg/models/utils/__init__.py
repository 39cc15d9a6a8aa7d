from .hf_loading import missing_checkpoint_error
from .lm_loss import masked_lm_loss
from .view_tokens import MultiViewTokens

__all__ = ['missing_checkpoint_error', 'masked_lm_loss', 'MultiViewTokens']
