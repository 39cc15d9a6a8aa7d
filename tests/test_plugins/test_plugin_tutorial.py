"""docs/plugins.md, followed literally in a directory outside the repository.

The package and config files are the tutorial's own code blocks (each starts
with a ``# <path>`` comment), so the document and this test cannot drift.
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from crrg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(ROOT, 'docs', 'plugins.md')
CONFIG = 'my_configs/rrg-deeper-selector_tiny_synthetic.py'


def _tutorial_files():
    """``{relative path: text}`` of the doc's python blocks naming a file."""
    with open(DOC, encoding='utf-8') as f:
        doc = f.read()
    files = {}
    for block in re.findall(r'```python\n(.*?)```', doc, re.DOTALL):
        first = block.splitlines()[0]
        match = re.fullmatch(r'# ([\w./-]+\.py)', first)
        if match:
            files[match.group(1)] = block
    return files


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The tutorial's ``workspace/``: the crrg checkout plus the user's files."""
    files = _tutorial_files()
    assert set(files) == {
        'my_crrg_ext/heads.py', 'my_crrg_ext/__init__.py', CONFIG
    }, f'{DOC}: the tutorial no longer names the files this test expects'
    # the checkout's configs and tools (the package comes from PYTHONPATH);
    # a copy, not a symlink, so that `..` leaves the checkout as for a user
    for folder in ('configs', 'tools'):
        shutil.copytree(osp.join(ROOT, folder), tmp_path / 'crrg' / folder)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith('my_crrg_ext')]:
        del sys.modules[name]
    MODELS.module_dict.pop('DeeperRegionSelector', None)


def test_custom_head_registers_and_builds(workspace):
    assert osp.commonpath([str(workspace), ROOT]) != ROOT
    cfg = Config.fromfile(str(workspace / CONFIG))
    assert cfg.custom_imports.imports == ['my_crrg_ext']
    assert 'DeeperRegionSelector' in MODELS.module_dict
    assert cfg.model.selector.in_channels == 256  # merged from the base
    model = MODELS.build(cfg.model)
    selector = model.selector
    assert type(selector).__name__ == 'DeeperRegionSelector'
    linears = [m for m in selector.mlp if hasattr(m, 'weight')]
    assert [m.out_features for m in linears] == [256, 128, 64, 1]
    selector.eval()
    assert selector(torch.randn(2, 29, 256)).shape == (2, 29)


def _run(cwd, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([osp.dirname(cwd), ROOT]))
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_and_test_with_tools(workspace, synthetic_twin):
    data_root, _ = synthetic_twin
    checkout = str(workspace / 'crrg')
    work = str(workspace / 'work')
    config = osp.join('..', CONFIG)
    data = [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    log = _run(checkout, 'tools/train.py', config, '--work-dir', work,
               '--cfg-options', 'model.detector_checkpoint=None',
               'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
               'default_hooks.checkpoint.interval=1', *data)
    assert "type='DeeperRegionSelector'" in log
    assert 'Epoch(train) [1]' in log and 'loss_selection' in log
    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    # four linear layers (256 -> 256 -> 128 -> 64 -> 1): the deeper head
    assert state['state_dict']['selector.mlp.6.weight'].shape == (1, 64)
    log = _run(checkout, 'tools/test.py', config, ckpt, '--work-dir', work,
               '--cfg-options', 'model.detector_checkpoint=None', *data)
    assert 'Epoch(test)' in log and 'selection/f1_micro' in log
