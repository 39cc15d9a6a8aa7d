"""Let torch>=2.6 load mmengine's own checkpoints with ``weights_only=True``.

mmengine 0.10.7 saves its message hub (``HistoryBuffer`` objects holding numpy
arrays and scalars) in every checkpoint, and torch>=2.6 refuses to unpickle
those types by default, so ``resume=True`` fails on a checkpoint the same run
wrote. We allow exactly the types mmengine writes, and keep the safe loader on.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_checkpoint_types() -> list:
    """The numpy types that appear in mmengine's message-hub state."""
    types = [
        np.dtype, np.ndarray,
        np._core.multiarray._reconstruct, np._core.multiarray.scalar
    ]
    # ``np.dtype(...)`` pickles as its concrete class, e.g. ``Float64DType``.
    types += [type(np.dtype(name)) for name in
              ('float64', 'float32', 'int64', 'int32', 'bool', 'float16')]
    return types


def allow_mmengine_checkpoint_types() -> None:
    """Add ``HistoryBuffer`` and the numpy types above to torch's safe globals.

    Idempotent; called when :mod:`crrg` is imported.
    """
    torch.serialization.add_safe_globals([HistoryBuffer] +
                                         _numpy_checkpoint_types())
