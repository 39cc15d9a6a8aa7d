"""kill -9 and --resume: the resumed run repeats the uninterrupted one.

Each training runs ``tools/train.py`` in a forked child (so nothing is
imported again) on a tiny model whose data pipeline draws from Python's,
numpy's and torch's random generators and whose model uses dropout; the
default runtime's seed, checkpoint hook and sampler are used as shipped.
"""
import json
import multiprocessing
import os
import os.path as osp
import random
import runpy
import signal
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from crrg.registry import DATASETS, METRICS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
ITERS_PER_EPOCH = 4


@DATASETS.register_module(force=True)
class ResumeToyDataset(Dataset):
    """12 fixed points; training adds noise from all three generators."""

    def __init__(self, size=12, test_mode=False):
        gen = np.random.default_rng(0)
        self.x = gen.normal(size=(size, 4)).astype(np.float32)
        self.y = (self.x @ np.array([1., -2., .5, 3.], np.float32))
        self.test_mode = test_mode
        self.metainfo = dict(name='toy')

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        x = torch.from_numpy(self.x[idx].copy())
        if not self.test_mode:
            x = x + random.gauss(0, .1) + float(np.random.normal(0, .1)) + \
                0.1 * torch.randn(4)
        return dict(inputs=x, target=torch.tensor(self.y[idx]))


@MODELS.register_module(force=True)
class ResumeToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(.3),
                                 nn.Linear(16, 1))

    def forward(self, inputs, target, mode='tensor'):
        out = self.net(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - target)**2).mean())
        return [dict(pred=float(p), target=float(t))
                for p, t in zip(out, target)]


@METRICS.register_module(force=True)
class ResumeToyMetric(BaseMetric):
    """MSE, also appended to ``log_file`` (one JSON line per validation)."""

    def __init__(self, log_file, **kwargs):
        super().__init__(**kwargs)
        self.log_file = log_file

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        mse = float(np.mean([(r['pred'] - r['target'])**2 for r in results]))
        with open(self.log_file, 'a') as f:
            f.write(json.dumps(dict(mse=mse)) + '\n')
        return dict(mse=mse)


def _config(tmp_path, name):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    loader = dict(batch_size=3, num_workers=0, persistent_workers=False,
                  collate_fn=dict(type='default_collate'))
    cfg.merge_from_dict(dict(
        model=dict(type='ResumeToyModel'),
        train_dataloader=dict(
            loader, sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(type='ResumeToyDataset')),
        val_dataloader=dict(
            loader, sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ResumeToyDataset', size=6, test_mode=True)),
        val_evaluator=dict(type='ResumeToyMetric',
                           log_file=str(tmp_path / f'{name}.jsonl')),
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=[dict(type='MultiStepLR', milestones=[2])],
        visualizer=dict(type='Visualizer', vis_backends=[]),
        default_hooks=dict(
            logger=dict(interval=1),
            checkpoint=dict(interval=1, max_keep_ckpts=1))))
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


def _child(argv, kill):
    torch.set_num_threads(1)
    if kill == 'epoch2':
        step = ResumeToyModel.train_step
        calls = [0]

        def dying_step(self, *args, **kwargs):
            calls[0] += 1
            if calls[0] == ITERS_PER_EPOCH + 2:  # epoch 2, iteration 2
                os.kill(os.getpid(), signal.SIGKILL)
            return step(self, *args, **kwargs)
        ResumeToyModel.train_step = dying_step
    elif kill == 'save2':
        from mmengine.fileio.backends import LocalBackend
        put = LocalBackend.put
        saves = [0]

        def dying_put(self, obj, filepath):
            if '.pth' in str(filepath):
                saves[0] += 1
                if saves[0] == 2:  # epoch 2's checkpoint, half written
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
            return put(self, obj, filepath)
        LocalBackend.put = dying_put
    sys.argv = [TRAIN] + argv
    runpy.run_path(TRAIN, run_name='__main__')


def _train(config, work_dir, *extra, kill=None):
    proc = multiprocessing.get_context('fork').Process(
        target=_child, args=([config, '--work-dir', str(work_dir), *extra],
                             kill))
    proc.start()
    proc.join(300)
    return proc.exitcode


def _final(work_dir, log_file):
    state = torch.load(osp.join(work_dir, 'epoch_3.pth'),
                       weights_only=True)
    with open(log_file) as f:
        metrics = [json.loads(line) for line in f]
    return state, metrics


def _assert_same_run(a, b):
    (state_a, metrics_a), (state_b, metrics_b) = a, b
    assert state_a['state_dict'].keys() == state_b['state_dict'].keys()
    for key, value in state_a['state_dict'].items():
        assert torch.equal(value, state_b['state_dict'][key]), key
    moment_a = state_a['optimizer']['state']
    moment_b = state_b['optimizer']['state']
    for key in moment_a:
        assert torch.equal(moment_a[key]['momentum_buffer'],
                           moment_b[key]['momentum_buffer'])
    # the final validation gives the very same metric
    assert metrics_a[-1] == metrics_b[-1]


@pytest.mark.slow
def test_kill_and_resume_repeat_the_uninterrupted_run(tmp_path):
    ref_dir = tmp_path / 'uninterrupted'
    assert _train(_config(tmp_path, 'ref'), ref_dir) == 0
    reference = _final(ref_dir, tmp_path / 'ref.jsonl')
    assert len(reference[1]) == 3

    # SIGKILL in epoch 2: resumed from epoch_1.pth
    work = tmp_path / 'killed_in_epoch'
    config = _config(tmp_path, 'epoch')
    assert _train(config, work, kill='epoch2') == -signal.SIGKILL
    assert sorted(p for p in os.listdir(work) if p.endswith('.pth')) == \
        ['epoch_1.pth']
    assert _train(config, work, '--resume') == 0
    _assert_same_run(reference, _final(work, tmp_path / 'epoch.jsonl'))

    # SIGKILL half-way through writing epoch 2's checkpoint (max_keep 1):
    # epoch 1's is intact and last_checkpoint still points at it
    work = tmp_path / 'killed_in_save'
    config = _config(tmp_path, 'save')
    assert _train(config, work, kill='save2') == -signal.SIGKILL
    with open(work / 'last_checkpoint') as f:
        assert osp.basename(f.read().strip()) == 'epoch_1.pth'
    assert torch.load(work / 'epoch_1.pth', weights_only=True)['meta'][
        'epoch'] == 1
    assert not (work / 'epoch_2.pth').exists()
    assert (work / '.epoch_2.pth.tmp').exists()
    assert _train(config, work, '--resume') == 0
    assert not (work / '.epoch_2.pth.tmp').exists()
    assert sorted(p for p in os.listdir(work) if p.endswith('.pth')) == \
        ['epoch_3.pth']
    _assert_same_run(reference, _final(work, tmp_path / 'save.jsonl'))


def test_best_checkpoint_is_replaced_atomically(tmp_path):
    config = _config(tmp_path, 'best')
    cfg = Config.fromfile(config)
    cfg.default_hooks.checkpoint.update(save_best='mse', rule='less')
    cfg.train_cfg.max_epochs = 2
    cfg.dump(config)
    work = tmp_path / 'best'
    assert _train(config, work) == 0
    with open(tmp_path / 'best.jsonl') as f:
        mse = [json.loads(line)['mse'] for line in f]
    best = [p for p in os.listdir(work) if p.startswith('best_')]
    # one best file, of the better epoch, complete; no temporary left over
    assert best == [f'best_mse_epoch_{1 + int(mse[1] < mse[0])}.pth']
    assert torch.load(work / best[0], weights_only=True)['state_dict']
    assert not [p for p in os.listdir(work) if p.endswith('.tmp')]
    rng = torch.load(work / 'epoch_2.pth', weights_only=True)['rng_state']
    assert len(rng['ranks']) == 1 and rng['sampler_seed'] is not None
