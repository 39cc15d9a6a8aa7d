"""The region detector configs (Faster, Cascade, DINO; real size and tiny;
backbone and detector swaps) build, run a training step and give region
features through RegionDetector."""
import copy

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from crrg.models.detectors import RegionDetector
from crrg.registry import MODELS

CONFIGS = 'configs/region_detector/'


def _batch(size, num_images=2, seed=0, channels=3):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(num_images):
        inputs.append(torch.rand(channels, size, size, generator=gen) * 255)
        xy = torch.rand(29, 2, generator=gen) * size * 0.6
        wh = torch.rand(29, 2, generator=gen) * size * 0.3 + 8
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1., 1.), pad_shape=(size, size)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], dim=1),
            labels=torch.arange(29))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _train_step(config, size, channels=3, **model_changes):
    cfg = Config.fromfile(CONFIGS + config)
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict(model_changes)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    # as the Runner does: some parameters (e.g. DINO's level_embed) are
    # allocated uninitialised and only set by init_weights()
    model.init_weights()
    model.train()
    data = model.data_preprocessor(_batch(size, channels=channels),
                                   training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss)
    head = model.roi_head if hasattr(model, 'roi_head') else model.bbox_head
    grads = [p.grad for p in head.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    regions = RegionDetector(detector=cfg.model)
    regions.detector.load_state_dict(model.state_dict())
    regions.eval()
    with torch.no_grad():
        regions = regions.predict_regions(data['inputs'][:1],
                                          data['data_samples'][:1])
    return model, regions


@pytest.mark.parametrize('config, channels', [
    ('faster-rcnn_tiny_synthetic.py', 256),
    ('cascade-rcnn_tiny_synthetic.py', 256),
    ('dino-4scale_tiny_synthetic.py', 256),
])
def test_tiny_detectors_one_step(config, channels):
    _, regions = _train_step(config, 128)
    assert regions.features.shape == (1, 29, channels)


@pytest.mark.slow
def test_real_size_r50_fpn_512_one_step():
    """R50-FPN, 512x512, 29 regions: ~10 s on 2 CPU cores."""
    _, regions = _train_step('faster-rcnn_r50_fpn_opt_imagenome.py', 512)
    assert regions.features.shape == (1, 29, 1024)


@pytest.mark.slow
def test_detector_swap_rgrg_c5_one_step():
    """RGRG's detector: grey input, C5 only, 2048-wide RPN conv with 160
    rounded anchors per location, RoIAlign 8x8, TwoMLPHead."""
    model, regions = _train_step('faster-rcnn_r50-c5_rgrg_opt_imagenome.py',
                                 256, channels=1)
    assert model.backbone.conv1.in_channels == 1 and not model.with_neck
    assert model.rpn_head.rpn_conv.out_channels == 2048
    assert model.rpn_head.prior_generator.num_base_priors == [160]
    assert model.roi_head.bbox_head.shared_fcs[0].in_features == 2048 * 64
    assert regions.features.shape == (1, 29, 1024)


@pytest.mark.slow
def test_backbone_swap_convnext_one_step():
    model, regions = _train_step('faster-rcnn_convnext-t_fpn_opt_imagenome.py',
                                 128)
    assert type(model.backbone).__module__.startswith('mmpretrain')
    assert regions.features.shape == (1, 29, 1024)


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'cascade-rcnn_r50_fpn_opt_imagenome.py', 'dino-4scale_r50_opt_imagenome.py'
])
def test_real_size_detector_swaps_one_step(config):
    _, regions = _train_step(config, 256)
    assert regions.features.shape[:2] == (1, 29)
