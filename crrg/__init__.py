"""crrg: chest X-ray region-guided report generation and medical CLIP."""
from .utils.checkpoint import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()

__all__ = ['__version__']
