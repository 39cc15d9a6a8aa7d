"""Every shipped config parses through its inheritance chain and names
registered components: the model, each loader's dataset and transforms, the
evaluators."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from crrg.registry import DATASETS, METRICS, MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(path, ROOT)
    for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                          recursive=True)
    if '_base_' not in path.split(osp.sep))


def _types(pipeline):
    for step in pipeline or []:
        yield step['type']
        yield from _types(step.get('transforms'))


def test_configs_are_found():
    assert len(CONFIGS) >= 30


@pytest.mark.parametrize('config', CONFIGS)
def test_config_parses_and_names_registered_components(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert MODELS.get(cfg.model.type) is not None, cfg.model.type
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        dataset = loader['dataset']
        assert DATASETS.get(dataset['type']) is not None, dataset['type']
        assert dataset.get('data_root'), f'{split}: no data_root'
        for name in _types(dataset.get('pipeline')):
            assert TRANSFORMS.get(name) is not None, name
    for split in ('val', 'test'):
        evaluator = cfg.get(f'{split}_evaluator')
        if evaluator is None:
            continue
        for metric in evaluator if isinstance(evaluator, list) else [
                evaluator]:
            assert METRICS.get(metric['type']) is not None, metric['type']
