"""RGRG's anchor generator and box coder against torchvision's own."""
import math

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import AnchorGenerator

from crrg.registry import TASK_UTILS
from crrg.utils import register_all_modules

register_all_modules()

SIZES = (20, 40, 60, 80, 100, 120, 140, 160, 180, 300)
RATIOS = (0.2, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.3, 1.5, 2.1, 2.6,
          3.0, 5.0, 8.0)


def test_rounded_anchors_equal_torchvision():
    ours = TASK_UTILS.build(
        dict(type='RoundedAnchorGenerator', strides=[32], sizes=[SIZES],
             ratios=RATIOS))
    assert ours.num_base_priors == [160]
    theirs = AnchorGenerator(sizes=(SIZES, ), aspect_ratios=(RATIOS, ))
    images = ImageList(torch.zeros(1, 1, 512, 512), [(512, 512)])
    expected = theirs(images, [torch.zeros(1, 8, 16, 16)])[0]
    got = ours.grid_priors([(16, 16)], device='cpu')[0]
    assert got.shape == (16 * 16 * 160, 4)
    assert torch.equal(got, expected)
    # the rounding matters: unrounded mmdet anchors differ
    plain = TASK_UTILS.build(
        dict(type='AnchorGenerator', strides=[32], scales=list(SIZES),
             ratios=RATIOS, base_sizes=[1]))
    assert not torch.equal(
        plain.grid_priors([(16, 16)], device='cpu')[0], expected)


@pytest.mark.parametrize('weights', [(1., 1., 1., 1.), (10., 10., 5., 5.)])
def test_box_coder_equals_torchvision(weights):
    torch.manual_seed(0)
    ours = TASK_UTILS.build(
        dict(type='TorchvisionDeltaXYWHBBoxCoder', weights=weights))
    theirs = BoxCoder(weights, bbox_xform_clip=math.log(1000. / 16))
    xy = torch.rand(50, 2) * 400
    boxes = torch.cat([xy, xy + 5 + torch.rand(50, 2) * 100], dim=1)
    # class-specific deltas (30 per box), some past the clamp
    deltas = torch.randn(50, 30 * 4) * 3
    expected = theirs.decode(deltas, [boxes]).view(50, -1)
    assert torch.equal(ours.decode(boxes, deltas), expected)
    clipped = ours.decode(boxes, deltas, max_shape=(512, 480))
    assert clipped[:, 0::2].max() <= 480 and clipped[:, 1::2].max() <= 512
    assert torch.equal(clipped[:, 0::2], expected[:, 0::2].clamp(0, 480))
    gt = boxes + torch.rand(50, 4) * 10
    assert torch.equal(ours.encode(boxes, gt), theirs.encode_single(gt, boxes))
