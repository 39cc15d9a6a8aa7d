from .checkpoint import allow_mmengine_checkpoint_types, load_model_checkpoint
from .dist import finish_distributed, load_runner_config
from .errors import (CheckpointMismatchError, DataFormatError, ImageDecodeError,
                     check_choice)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'allow_mmengine_checkpoint_types',
    'finish_distributed', 'load_runner_config',
    'DataFormatError',
    'ImageDecodeError', 'CheckpointMismatchError', 'load_model_checkpoint',
    'check_choice'
]
