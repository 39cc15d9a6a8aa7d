"""Run trained models outside the Runner: build one from a config and a
checkpoint, and get the test pipeline that prepares raw images for it."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from crrg.registry import MODELS


def test_pipeline_cfg(cfg: Config) -> list[dict]:
    """The config's test pipeline without annotation loading.

    Args:
        cfg (Config): The model's config; its ``test_dataloader.dataset``
            (or a wrapper's inner ``dataset``) holds the pipeline.

    Returns:
        list[dict]: Transform configs, minus every ``*Annotations*`` loader.
        ``PackDetInputs`` packs the meta keys that exist, so it stays.
    """
    dataset_cfg = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    if 'pipeline' not in dataset_cfg:
        raise KeyError(f'{cfg.filename}: test_dataloader.dataset has no '
                       '"pipeline"; add the test pipeline to the config')
    return [
        t for t in dataset_cfg.pipeline
        if 'Annotations' not in str(t.get('type', ''))
    ]


def build_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """Build the config's model, load the checkpoint, set eval mode.

    ``mmdet.apis.init_detector`` expects a ``model.backbone`` and builds the
    test dataset to read a palette, which a report generator config does not
    need, so the model is built from the registry directly.

    Args:
        cfg (Config): The config.
        checkpoint (str): Checkpoint file.
        device (str): Device to run on.

    Returns:
        torch.nn.Module: The model in eval mode on ``device``.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'checkpoint {checkpoint} does not exist; pass the .pth file a '
            'training run wrote (work_dirs/<config name>/epoch_*.pth)')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.cfg = cfg
    return model.to(device).eval()
