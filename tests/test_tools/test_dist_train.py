"""tools/dist_train.sh starts 2 CPU processes (gloo) through mmengine."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/region_detector/faster-rcnn_tiny_synthetic.py'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_training(synthetic_twin, tmp_path):
    root, _ = synthetic_twin
    work = str(tmp_path / 'dist')
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(_free_port()),
               PYTHON=sys.executable)
    proc = subprocess.run([
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work,
        '--cfg-options', f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=5', 'train_dataloader.batch_size=2'
    ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "dist_cfg: {'backend': 'gloo'}" in out
    assert 'Distributed training: True' in out
    # 12 training images, 2 ranks x batch 2: 3 iterations per epoch
    assert 'Epoch(train) [1][3/3]' in out
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    # the checkpoint carries both ranks' random states (seeded 0 and 1)
    ranks = torch.load(osp.join(work, 'epoch_1.pth'),
                       weights_only=True)['rng_state']['ranks']
    assert len(ranks) == 2
    assert not torch.equal(ranks[0]['torch'], ranks[1]['torch'])
