"""The real-size and swapped detector configs build and run a training step."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from crrg.registry import MODELS

CONFIGS = 'configs/region_detector/'


def _batch(size, num_images=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(num_images):
        inputs.append(torch.rand(3, size, size, generator=gen) * 255)
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


def _train_step(config, size, **model_changes):
    cfg = Config.fromfile(CONFIGS + config)
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict(model_changes)
    model = MODELS.build(cfg.model)
    model.train()
    data = model.data_preprocessor(_batch(size), training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.roi_head.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        regions = model.predict_regions(data['inputs'][:1],
                                        data['data_samples'][:1])
    return model, regions


@pytest.mark.slow
def test_real_size_r50_fpn_512_one_step():
    """R50-FPN, 512x512, 29 regions: ~10 s on 2 CPU cores."""
    _, regions = _train_step('faster-rcnn_r50_fpn_opt_imagenome.py', 512)
    assert regions.features.shape == (1, 29, 1024)


@pytest.mark.slow
def test_detector_swap_rgrg_c5_one_step():
    _, regions = _train_step('faster-rcnn_r50-c5_rgrg_opt_imagenome.py', 256)
    assert regions.features.shape == (1, 29, 1024)


@pytest.mark.slow
def test_backbone_swap_convnext_one_step():
    model, regions = _train_step('faster-rcnn_convnext-t_fpn_opt_imagenome.py',
                                 128)
    assert type(model.backbone).__module__.startswith('mmpretrain')
    assert regions.features.shape == (1, 29, 1024)
