from mmengine.config import Config
from mmengine.registry import DefaultScope

from crrg import registry
from crrg.utils import register_all_modules


def test_registries_are_children_of_mmdet():
    from mmdet import registry as mmdet_registry
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS',
                 'VISUALIZERS', 'RUNNERS', 'LOOPS', 'OPTIM_WRAPPERS'):
        ours = getattr(registry, name)
        assert ours.scope == 'crrg'
        assert ours.parent is getattr(mmdet_registry, name)


def test_bare_mmdet_and_scoped_mmpretrain_names_resolve():
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'crrg'
    assert registry.MODELS.get('FasterRCNN').__module__.startswith('mmdet')
    assert registry.MODELS.get('RegionDetector').__module__.startswith('crrg')
    resnet = registry.MODELS.get('mmpretrain.ResNet')
    assert resnet.__module__.startswith('mmpretrain')
    assert registry.TRANSFORMS.get('RandomAffine') is not None
    assert registry.TRANSFORMS.get('RandomGaussianNoise') is not None
    assert registry.DATASETS.get('ChestImaGenomeDataset') is not None
    assert registry.METRICS.get('CocoMetric') is not None
    assert registry.METRICS.get('RegionDetectionMetric') is not None


def test_config_builds_mmpretrain_backbone_by_scoped_name():
    register_all_modules()
    cfg = Config(dict(type='mmpretrain.ResNet', depth=18, base_channels=8))
    backbone = registry.MODELS.build(cfg)
    assert type(backbone).__module__.startswith('mmpretrain')
