import io
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import crrg.utils
from crrg.utils import CheckpointMismatchError, load_model_checkpoint


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


class _Net(torch.nn.Module):

    def __init__(self, width=3):
        super().__init__()
        self.backbone = torch.nn.Linear(4, width)
        self.head = torch.nn.Linear(width, 2)


class _OtherNet(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 3),
                                           torch.nn.Linear(3, 3))
        self.head = torch.nn.Linear(3, 2)


def _save(tmp_path, model, name='ckpt.pth', prefix=''):
    path = str(tmp_path / name)
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    return path


def test_strict_load_of_the_right_checkpoint(tmp_path):
    source, target = _Net(), _Net()
    path = _save(tmp_path, source, prefix='module.')  # a DDP checkpoint
    checkpoint = load_model_checkpoint(target, path)
    assert checkpoint['meta']['epoch'] == 1
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_wrong_checkpoint_is_refused_with_a_summary(tmp_path):
    path = _save(tmp_path, _OtherNet())
    target = _Net()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_checkpoint(target, path)
    message = str(info.value)
    assert path in message and '_Net' in message
    assert '2 keys of the model missing from the checkpoint, under ' \
        'backbone.* (2)' in message
    assert '4 keys in the checkpoint unknown to the model, under ' \
        'encoder.* (4)' in message
    assert 'e.g. backbone.bias, backbone.weight' in message
    assert '--allow-partial' in message
    # nothing was loaded
    for key, value in before.items():
        assert torch.equal(target.state_dict()[key], value)


def test_shape_mismatch_is_reported_and_partial_load_is_explicit(tmp_path):
    path = _save(tmp_path, _Net(width=5))
    target = _Net(width=3)
    with pytest.raises(CheckpointMismatchError,
                       match=r'3 keys with another shape; e\.g\. '
                       r'backbone\.weight: checkpoint \(5, 4\) vs model '
                       r'\(3, 4\)'):
        load_model_checkpoint(target, path)
    # a checkpoint sharing some keys: allow_partial loads exactly those
    source = _OtherNet()
    partial = _save(tmp_path, source, 'partial.pth')
    target = _Net()
    backbone = target.backbone.weight.detach().clone()
    load_model_checkpoint(target, partial, allow_partial=True)
    assert torch.equal(target.head.weight, source.head.weight)
    assert torch.equal(target.backbone.weight, backbone)


def test_no_common_key_is_refused_even_with_allow_partial(tmp_path):
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'rpn_head.conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointMismatchError, match='No key matches'):
        load_model_checkpoint(_Net(), path, allow_partial=True)


@pytest.mark.slow
def test_safe_globals_hold_when_crrg_is_a_namespace_package(tmp_path):
    """A checkout folder named ``crrg`` makes ``import crrg`` a namespace
    package: crrg/__init__.py never runs, importing crrg's modules still
    registers the checkpoint types."""
    real = osp.dirname(osp.dirname(osp.abspath(crrg.utils.__file__)))
    namespace = tmp_path / 'ns' / 'crrg'
    namespace.mkdir(parents=True)
    for entry in os.listdir(real):
        if entry != '__init__.py' and not entry.startswith('__pycache__'):
            os.symlink(osp.join(real, entry), namespace / entry)
    hub = MessageHub.get_instance('test_checkpoint_namespace')
    hub.update_scalar('train/loss', np.float64(0.5))
    ckpt = str(tmp_path / 'hub.pth')
    torch.save(dict(message_hub=hub.state_dict()), ckpt)
    script = f'''
import os.path as osp
import sys
sys.path[:] = [{str(tmp_path / 'ns')!r}] + [
    p for p in sys.path[1:]
    if not osp.isfile(osp.join(p, 'crrg', '__init__.py'))]
sys.meta_path[:] = [f for f in sys.meta_path
                    if 'editable' not in type(f).__module__.lower()
                    and 'editable' not in getattr(f, '__name__', '').lower()]
import torch
import crrg
assert getattr(crrg, '__file__', None) is None, crrg.__file__
import crrg.engine
state = torch.load({ckpt!r}, weights_only=True)
print(type(state['message_hub']['log_scalars']['train/loss']).__name__)
'''
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=''))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'HistoryBuffer'
