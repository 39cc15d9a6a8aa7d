"""OneMapRoIExtractor: mmdet's SingleRoIExtractor's outputs, without the
buffer mmdet zeroes and drops on one map."""
import pytest
import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

from crrg.registry import MODELS
from crrg.utils import register_all_modules

register_all_modules()

ROI_LAYER = dict(type='RoIAlign', output_size=4, sampling_ratio=2,
                 aligned=False, use_torchvision=True)


def _pair(strides):
    cfg = dict(roi_layer=ROI_LAYER, out_channels=8, featmap_strides=strides)
    return (MODELS.build(dict(type='crrg.OneMapRoIExtractor', **cfg)),
            SingleRoIExtractor(**cfg))


def _rois(num, size, gen):
    xy = torch.rand(num, 2, generator=gen) * size / 2
    wh = torch.rand(num, 2, generator=gen) * size / 2 + 1
    index = torch.randint(0, 2, (num, 1), generator=gen).float()
    return torch.cat([index, xy, xy + wh], dim=1)


@pytest.mark.parametrize('strides', [[32], [8, 16]])
def test_same_features_as_mmdet(strides):
    gen = torch.Generator().manual_seed(0)
    feats = tuple(torch.randn(2, 8, 128 // s, 128 // s, generator=gen)
                  for s in strides)
    ours, mmdet = _pair(strides)
    for num in (0, 1, 37):
        rois = _rois(num, 128, gen)
        out = ours(feats, rois)
        assert out.shape == (num, 8, 4, 4)
        assert torch.equal(out, mmdet(feats, rois))


def test_no_buffer_on_one_map(monkeypatch):
    # mmdet's extractor zeroes an (N, C, S, S) buffer before returning its
    # RoI layer's output; ours allocates nothing but that output
    gen = torch.Generator().manual_seed(0)
    feats = (torch.randn(2, 8, 4, 4, generator=gen), )
    rois = _rois(5, 128, gen)
    ours, mmdet = _pair([32])
    calls = []
    new_zeros = torch.Tensor.new_zeros
    monkeypatch.setattr(torch.Tensor, 'new_zeros',
                        lambda self, *a, **k: calls.append(a) or new_zeros(
                            self, *a, **k))
    mmdet(feats, rois)
    assert len(calls) == 1
    ours(feats, rois)
    assert len(calls) == 1
