"""Heavy head layers from packed bf16 / int8 weights at inference."""
import pytest
import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from torch import nn

from crrg.models.detectors.head_precision import (heavy_layers,
                                                  low_precision_layers)


def test_heavy_layers_skip_the_prediction_layers():
    head = Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, roi_feat_size=2,
                             num_classes=29)
    assert heavy_layers(head) == list(head.shared_fcs)
    rpn = RPNHead(in_channels=8, feat_channels=8, num_classes=1)
    assert heavy_layers(rpn) == [rpn.rpn_conv]  # not the 1 x 1 cls / reg


@pytest.mark.parametrize('precision,tol', [('bf16', 2e-2), ('int8', 2e-2)])
def test_packed_layers_close_to_fp32_and_restored(precision, tol):
    torch.manual_seed(0)
    linear, conv = nn.Linear(64, 32), nn.Conv2d(8, 16, 3, padding=1)
    x, image = torch.randn(5, 7, 64), torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        want = linear(x), conv(image)
    with low_precision_layers([linear, conv], precision):
        got = linear(x), conv(image)
        assert got[0].dtype == torch.float32 and got[0].shape == (5, 7, 32)
    assert 'forward' not in vars(linear) and 'forward' not in vars(conv)
    for g, w in zip(got, want):
        assert (g - w).abs().max() <= tol * w.abs().max()
    assert not torch.equal(got[0], want[0])  # the packed weights ran
    # int8 keeps convolutions fp32 (torch has no dynamic int8 convolution)
    assert torch.equal(got[1], want[1]) == (precision == 'int8')


def test_packed_weights_follow_the_parameters():
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    x = torch.randn(3, 16)
    with low_precision_layers([linear], 'bf16'):
        first = linear(x)
    packed = linear._crrg_packed[1]
    with low_precision_layers([linear], 'bf16'):
        linear(x)
    assert linear._crrg_packed[1] is packed  # packed once
    linear.load_state_dict({'weight': linear.weight * 2,
                            'bias': linear.bias * 2})
    with low_precision_layers([linear], 'bf16'):
        second = linear(x)
    assert linear._crrg_packed[1] is not packed
    torch.testing.assert_close(second, 2 * first, rtol=2e-2, atol=2e-2)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match='fp16'):
        with low_precision_layers([], 'fp16'):
            pass


def test_fp32_keeps_gradients():
    linear = nn.Linear(4, 2)
    with low_precision_layers([linear], 'fp32'):
        out = linear(torch.randn(3, 4))
    assert out.requires_grad  # a jointly trained head still learns
