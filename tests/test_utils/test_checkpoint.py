import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import crrg  # noqa: F401  (installs the safe globals)


def _round_trip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_message_hub_state_loads_with_weights_only():
    hub = MessageHub.get_instance('test_checkpoint_hub')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', np.int64(7))
    state = _round_trip(hub.state_dict())
    buffer = state['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375)
    assert buffer.statistics('max') == pytest.approx(0.5)


class _ReachesOtherAttribute:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: must be refused."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_other_getattr_is_refused():
    with pytest.raises(pickle.UnpicklingError):
        _round_trip(_ReachesOtherAttribute())
