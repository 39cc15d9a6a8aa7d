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
