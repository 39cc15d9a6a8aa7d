from .hf_loading import missing_checkpoint_error

__all__ = ['missing_checkpoint_error']
