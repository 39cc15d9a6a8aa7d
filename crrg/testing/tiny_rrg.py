"""A tiny region-guided report generator on disk, for tests of the tools.

:func:`make_tiny_rrg` writes what a tool takes: a config file (the tiny
synthetic-twin generator config, smaller still, with a tiny tokenizer,
every detected region selected) and a checkpoint of its randomly
initialised weights.
"""
import os.path as osp
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from crrg.models.utils import train_report_tokenizer
from crrg.registry import MODELS
from crrg.utils import register_all_modules

REPO_CONFIG = osp.join('configs', 'rrg', 'rrg-generator_tiny_synthetic.py')

SENTENCES = ('the heart is normal in size.', 'no pleural effusion.',
             'right lower lobe opacity.')


def make_tiny_rrg(out_dir: str,
                  repo_root: str,
                  seed: int = 0) -> Tuple[str, str]:
    """Write a tiny RRG config and checkpoint into ``out_dir``.

    Args:
        out_dir (str): Folder for ``tokenizer/``, ``tiny_rrg.py`` and
            ``tiny_rrg.pth`` (must exist).
        repo_root (str): crrg's repository root (holds ``configs/``).
        seed (int): Seed of the random weights. Defaults to 0.

    Returns:
        tuple[str, str]: The config file and the checkpoint file.
    """
    register_all_modules(init_default_scope=False)
    tokenizer = osp.join(out_dir, 'tokenizer')
    train_report_tokenizer(list(SENTENCES) * 5, tokenizer, vocab_size=300)
    cfg = Config.fromfile(osp.join(repo_root, REPO_CONFIG))
    cfg.model.generator.tokenizer = tokenizer
    cfg.model.generator.gpt2_config = dict(n_layer=1, n_embd=32, n_head=2)
    cfg.model.generator.max_new_tokens = 4
    cfg.model.detector.detector.test_cfg.rpn.max_per_img = 50
    # every detected region selected, so each gets a sentence
    cfg.model.selector.threshold = -100.0
    config = osp.join(out_dir, 'tiny_rrg.py')
    cfg.dump(config)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('crrg'):
        model = MODELS.build(cfg.model)
    checkpoint = osp.join(out_dir, 'tiny_rrg.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return config, checkpoint
