"""load_runner_config: the config the train and test tools hand the Runner."""
import os.path as osp

from crrg.utils import load_runner_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'region_detector',
                  'faster-rcnn_tiny_synthetic.py')


def test_defaults_options_and_work_dir():
    cfg = load_runner_config(CONFIG)
    assert cfg.launcher == 'none'
    assert cfg.work_dir == osp.join('./work_dirs', 'faster-rcnn_tiny_synthetic')
    # no process group on a 'none' launch: the config keeps its wrapper
    assert cfg.get('model_wrapper_cfg') is None
    cfg = load_runner_config(
        CONFIG, cfg_options={'train_cfg.max_epochs': 1}, work_dir='run')
    assert cfg.train_cfg.max_epochs == 1 and cfg.work_dir == 'run'
