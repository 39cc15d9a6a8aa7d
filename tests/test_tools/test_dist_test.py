"""tools/dist_test.sh tests a checkpoint in 2 CPU processes (gloo)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from crrg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/region_detector/faster-rcnn_tiny_synthetic.py'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_testing(synthetic_twin, tmp_path):
    """Both ranks load the checkpoint strictly into the DDP-wrapped model's
    module and the evaluator gathers the 4 test images."""
    root, _ = synthetic_twin
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(ROOT, CONFIG)).model)
    checkpoint = str(tmp_path / 'detector.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(_free_port()),
               PYTHON=sys.executable)
    proc = subprocess.run([
        'bash', 'tools/dist_test.sh', CONFIG, checkpoint, '2', '--work-dir',
        str(tmp_path / 'work'), '--table-dir',
        str(tmp_path / 'table'), '--cfg-options',
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.batch_size=1'
    ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "dist_cfg: {'backend': 'gloo'}" in out
    # 4 test images over 2 ranks at batch 1: 2 iterations each
    assert 'Epoch(test) [2/2]' in out
    metrics = json.loads((tmp_path / 'table' / 'metrics.json').read_text())
    assert metrics
