"""Checkpoint loading: mmengine's checkpoints under torch's safe loader, and
strict loading of a model's weights with a readable mismatch summary.

torch>=2.6 loads checkpoints with ``weights_only=True``.

mmengine 0.10.7 saves its message hub (``HistoryBuffer`` objects holding numpy
arrays and scalars) in every checkpoint, and torch>=2.6 refuses to unpickle
those types by default, so ``resume=True`` fails on a checkpoint the same run
wrote. We allow exactly the types mmengine writes, and keep the safe loader on.

``HistoryBuffer`` also carries its statistics methods (``HistoryBuffer.mean``
...); pickle protocol 2, which ``torch.save`` uses, stores each of them as
``getattr(HistoryBuffer, 'mean')``. Rather than allowing ``getattr`` itself,
we give the safe loader a ``getattr`` that resolves only those four names.

The registration is a side effect of importing this module, which every crrg
module that loads or resumes a checkpoint imports (through ``crrg.utils``),
so it holds however crrg was imported (also when a checkout folder named
``crrg`` makes ``import crrg`` a namespace package whose ``__init__`` never
runs).
"""
import logging
import pickle
import re
from collections import Counter, OrderedDict
from typing import Callable, Dict, Iterable, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from .errors import CheckpointMismatchError

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

    Idempotent; runs when this module is imported.
    """
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')] +
        _numpy_checkpoint_types())


allow_mmengine_checkpoint_types()


def _summarise(keys: Iterable[str], what: str, shown: int = 3) -> str:
    """``'<n> keys <what>, under a (n_a), b (n_b); e.g. k1, k2'``."""
    keys = sorted(keys)
    prefixes = Counter(key.split('.')[0] for key in keys)
    under = ', '.join(f'{p}.* ({n})' for p, n in prefixes.most_common(4))
    if len(prefixes) > 4:
        under += f', ... ({len(prefixes) - 4} more prefixes)'
    example = ', '.join(keys[:shown]) + (', ...' if len(keys) > shown else '')
    return f'{len(keys)} keys {what}, under {under}; e.g. {example}'


def load_model_checkpoint(model: nn.Module,
                          filename: str,
                          allow_partial: bool = False,
                          map_location: Union[str, Callable] = 'cpu') -> dict:
    """Load a checkpoint's weights into ``model``, strictly by default.

    The weights are ``checkpoint['state_dict']`` (or the checkpoint itself
    when it is a bare state dict), with a DDP ``module.`` prefix removed.
    Every model key must be in the checkpoint with the same shape and every
    checkpoint key in the model; otherwise the load is refused with a summary
    of the missing, unexpected and shape-mismatched keys. With
    ``allow_partial=True`` the matching keys are loaded and the summary is
    logged as a warning; a checkpoint that shares no key with the model is
    refused either way.

    Args:
        model (nn.Module): The model (not wrapped).
        filename (str): Local path or any URI mmengine's ``CheckpointLoader``
            reads.
        allow_partial (bool): Load the matching part of a mismatched
            checkpoint (the tools' ``--allow-partial``). Defaults to False.
        map_location (str | Callable): Defaults to 'cpu'.

    Returns:
        dict: The loaded checkpoint (``meta``, ``state_dict``, ...).

    Raises:
        CheckpointMismatchError: The weights do not match the model (or the
            file holds no state dict); the message names the file, summarises
            the keys and says how to load anyway.
    """
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'{filename}: not a checkpoint (a {type(checkpoint).__name__}, '
            'not a dict of weights)')
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = type(state_dict)(
        (re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    if metadata is not None:
        state_dict._metadata = metadata
    expected: Dict[str, torch.Tensor] = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        k for k in expected if k in state_dict
        and hasattr(state_dict[k], 'shape')
        and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        model.load_state_dict(state_dict, strict=True)
        return checkpoint
    problems = []
    if missing:
        problems.append(_summarise(missing, 'of the model missing from the '
                                   'checkpoint'))
    if unexpected:
        problems.append(_summarise(unexpected, 'in the checkpoint unknown '
                                   'to the model'))
    if mismatched:
        shapes = ', '.join(
            f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
            f'{tuple(expected[k].shape)}' for k in mismatched[:3])
        problems.append(f'{len(mismatched)} keys with another shape; e.g. '
                        f'{shapes}')
    summary = (f'{filename}: checkpoint does not match '
               f'{type(model).__name__} ({len(expected)} keys): ' +
               '; '.join(problems))
    matching = [k for k in expected if k in state_dict and k not in mismatched]
    if not matching:
        raise CheckpointMismatchError(
            summary + '. No key matches: this is a checkpoint of another '
            'model; check the config and checkpoint pair.')
    if not allow_partial:
        raise CheckpointMismatchError(
            summary + '. Check that the checkpoint was trained with this '
            'config; to load the matching part anyway pass --allow-partial '
            '(allow_partial=True).')
    print_log(f'{summary}. Loading the {len(matching)} matching keys '
              '(allow_partial=True).', 'current', logging.WARNING)
    partial = OrderedDict((k, state_dict[k]) for k in matching)
    if metadata is not None:
        partial._metadata = metadata
    model.load_state_dict(partial, strict=False)
    return checkpoint
