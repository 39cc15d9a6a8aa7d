"""Converters of published checkpoints into crrg's models."""
from .rgrg import (RGRG_SOURCE_COMMIT, convert_rgrg_checkpoint,
                   convert_rgrg_file, convert_rgrg_state_dict,
                   rgrg_expected_keys)

__all__ = [
    'RGRG_SOURCE_COMMIT', 'convert_rgrg_checkpoint', 'convert_rgrg_file',
    'convert_rgrg_state_dict',
    'rgrg_expected_keys'
]
