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


# What ``pip install -e .`` in the checkout installs (tools/setup_env.sh):
# setuptools' editable finder, appended to ``sys.meta_path`` after the path
# finder, mapping the top-level package ``crrg`` to the checkout's ``crrg/``.
# Written as a ``sitecustomize`` so the subprocesses get it at start-up, in
# front of the editable finder of the environment's own crrg install.
EDITABLE_FINDER = """
import sys
from importlib.machinery import PathFinder
from importlib.util import spec_from_file_location

PACKAGE = {package!r}


class CheckoutFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == 'crrg':
            return spec_from_file_location(
                'crrg', PACKAGE + '/__init__.py',
                submodule_search_locations=[PACKAGE])
        if fullname.startswith('crrg.'):
            parent = '/'.join([PACKAGE] + fullname.split('.')[1:-1])
            return PathFinder.find_spec(fullname, [parent])
        return None


sys.meta_path.insert(sys.meta_path.index(PathFinder) + 1, CheckoutFinder)
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The tutorial's ``workspace/``: the crrg checkout, in a folder named
    ``crrg``, installed editable, plus the user's files."""
    files = _tutorial_files()
    assert set(files) == {
        'my_crrg_ext/heads.py', 'my_crrg_ext/__init__.py', CONFIG
    }, f'{DOC}: the tutorial no longer names the files this test expects'
    # a copy, not a symlink, so that `..` leaves the checkout as for a user
    for folder in ('crrg', 'configs', 'tools'):
        shutil.copytree(
            osp.join(ROOT, folder),
            tmp_path / 'crrg' / folder,
            ignore=shutil.ignore_patterns('__pycache__'))
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(
        EDITABLE_FINDER.format(package=str(tmp_path / 'crrg' / 'crrg')))
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


def _run(workspace, *args, check=True):
    """Run ``python *args`` in the checkout as the tutorial does: the
    workspace (``..``) on PYTHONPATH, crrg from its editable install."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [str(workspace), str(workspace / 'site')]))
    proc = subprocess.run([sys.executable, *args], cwd=workspace / 'crrg',
                          env=env, capture_output=True, text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, \
            proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_the_layout_imports_crrg_as_a_namespace_package(workspace):
    """The trap the layout sets: ``crrg`` is the checkout folder (a namespace
    package, its ``__init__`` never runs); crrg's modules still load from the
    checkout, and importing the registry does crrg's checkpoint set-up."""
    script = workspace / 'site' / 'which_crrg.py'
    script.write_text(
        'import torch, crrg, crrg.registry\n'
        'from mmengine.logging import HistoryBuffer\n'
        'print(crrg.__file__, crrg.registry.__file__)\n'
        'print(HistoryBuffer in torch.serialization.get_safe_globals())\n')
    out = _run(workspace, str(script))
    package, registry, allowed = out.split()
    assert package == 'None'
    assert registry == str(workspace / 'crrg' / 'crrg' / 'registry.py')
    assert allowed == 'True'


@pytest.mark.slow
def test_train_and_test_with_tools(workspace, synthetic_twin):
    """Section 4 as written: stage 1 with crrg's config, then the plugin's
    stage 2 loading that stage-1 checkpoint (mmengine's message hub inside,
    so it needs crrg's safe globals), then its test; one epoch each."""
    data_root, _ = synthetic_twin
    (workspace / 'crrg' / 'data').mkdir()
    (workspace / 'crrg' / 'data' / 'synthetic').symlink_to(data_root)
    smoke = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1']
    _run(workspace, 'tools/train.py',
         'configs/region_detector/faster-rcnn_tiny_synthetic.py',
         '--cfg-options', *smoke)
    stage1 = (workspace / 'crrg' / 'work_dirs' / 'faster-rcnn_tiny_synthetic'
              / 'last_checkpoint').read_text().strip()
    config = osp.join('..', CONFIG)
    log = _run(workspace, 'tools/train.py', config, '--cfg-options',
               f'model.detector_checkpoint={stage1}', *smoke)
    assert "type='DeeperRegionSelector'" in log
    assert f'Loads checkpoint by local backend from path: {stage1}' in log
    assert 'Epoch(train) [1]' in log and 'loss_selection' in log
    ckpt = (workspace / 'crrg' / 'work_dirs' /
            'rrg-deeper-selector_tiny_synthetic' / 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    # four linear layers (256 -> 256 -> 128 -> 64 -> 1): the deeper head
    assert state['state_dict']['selector.mlp.6.weight'].shape == (1, 64)
    log = _run(workspace, 'tools/test.py', config, str(ckpt))
    assert 'Epoch(test)' in log and 'selection/f1_micro' in log
