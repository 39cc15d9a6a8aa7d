"""A tiny model of RGRG's design, from the real RGRG config, for CPU tests."""
from mmengine.config import Config

RGRG_CONFIG = 'configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'
TINY_DETECTOR = 'configs/_base_/models/faster-rcnn_tiny_rgrg.py'


def tiny_rgrg_config(tokenizer: str, repo: str = '.') -> Config:
    """RGRG's full config with its parts shrunk, every RGRG switch kept.

    The detector is ``faster-rcnn_tiny_rgrg.py`` (RGRG's design on a ResNet-18
    at 1/4 width), region features are 64-d, GPT-2 has 2 layers of 32 and
    the tokenizer is ``tokenizer``; pre-processing, selection threshold,
    abnormality classifier, positions and beam rule are RGRG's.

    Args:
        tokenizer (str): A GPT-2 style tokenizer directory (e.g. from
            :func:`crrg.models.utils.tokenizer_training.train_report_tokenizer`).
        repo (str): The crrg checkout holding ``configs/``.

    Returns:
        Config: The whole config (model, pipelines, evaluators).
    """
    cfg = Config.fromfile(f'{repo}/{RGRG_CONFIG}')
    model = cfg.model
    model.detector.detector = Config.fromfile(f'{repo}/{TINY_DETECTOR}').model
    model.detector.region_channels = 64
    for part in (model.selector, model.abnormality, model.generator):
        part.in_channels = 64
    model.generator.tokenizer = tokenizer
    model.generator.gpt2_config = dict(n_layer=2, n_embd=32, n_head=2,
                                       n_positions=64)
    model.generator.max_new_tokens = 12
    return cfg
