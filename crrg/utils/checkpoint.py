"""Let torch>=2.6 load mmengine's own checkpoints with ``weights_only=True``.

mmengine 0.10.7 saves its message hub (``HistoryBuffer`` objects holding numpy
arrays and scalars) in every checkpoint, and torch>=2.6 refuses to unpickle
those types by default, so ``resume=True`` fails on a checkpoint the same run
wrote. We allow exactly the types mmengine writes, and keep the safe loader on.

``HistoryBuffer`` also carries its statistics methods (``HistoryBuffer.mean``
...); pickle protocol 2, which ``torch.save`` uses, stores each of them as
``getattr(HistoryBuffer, 'mean')``. Rather than allowing ``getattr`` itself,
we give the safe loader a ``getattr`` that resolves only those four names.
"""
import pickle
from collections import Counter

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _numpy_checkpoint_types() -> list:
    """The numpy types that appear in mmengine's message-hub state."""
    types = [
        np.dtype, np.ndarray, np._core.multiarray._reconstruct,
        np._core.multiarray.scalar
    ]
    # ``np.dtype(...)`` pickles as its concrete class, e.g. ``Float64DType``.
    types += [
        type(np.dtype(name))
        for name in ('float64', 'float32', 'float16', 'int64', 'int32',
                     'uint8', 'bool')
    ]
    return types


def history_buffer_getattr(owner: type, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

    Raises:
        pickle.UnpicklingError: For any other owner or attribute.
    """
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'weights_only load: refusing getattr({owner!r}, {name!r}); crrg '
        f'allows only HistoryBuffer.{{{",".join(_HISTORY_BUFFER_METHODS)}}}')


def allow_mmengine_checkpoint_types() -> None:
    """Add ``HistoryBuffer``, its methods and numpy's types to the safe globals.

    Idempotent; called when :mod:`crrg` is imported.
    """
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')] +
        _numpy_checkpoint_types())


def _summarise_keys(keys: list, what: str) -> str:
    if not keys:
        return f'0 {what}'
    prefixes = Counter(k.split('.')[0] for k in keys).most_common(3)
    common = ', '.join(f'{p}.* ({n})' for p, n in prefixes)
    return (f'{len(keys)} {what} (e.g. {keys[:3]}; by prefix: {common})')


def load_model_checkpoint(model: torch.nn.Module,
                          filename: str,
                          allow_partial: bool = False,
                          map_location: str = 'cpu') -> dict:
    """Load a checkpoint's ``state_dict`` into ``model``, strictly by default.

    Args:
        model (nn.Module): The model (a wrapper's ``module`` is used).
        filename (str): Checkpoint path (or any URI mmengine reads).
        allow_partial (bool): Load the matching keys and only warn about the
            rest. Defaults to False.
        map_location (str): Defaults to 'cpu'.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        CheckpointMismatchError: Missing or unexpected keys and
            ``allow_partial`` is False.
    """
    from mmengine.logging import MMLogger
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint

    from .errors import CheckpointMismatchError
    if is_model_wrapper(model):
        model = model.module
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else checkpoint
    state = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        summary = (f'{filename}: checkpoint does not match the model: '
                   f'{_summarise_keys(result.missing_keys, "missing key(s)")}'
                   f'; {_summarise_keys(result.unexpected_keys, "unexpected key(s)")}')
        if not allow_partial:
            raise CheckpointMismatchError(
                summary + '. Check the config matches the checkpoint, or '
                'pass --allow-partial to load the matching weights anyway.')
        MMLogger.get_current_instance().warning(summary +
                                                ' (--allow-partial)')
    return checkpoint
