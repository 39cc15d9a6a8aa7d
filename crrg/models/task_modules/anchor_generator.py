"""torchvision's anchors as an mmdet prior generator (RGRG's detector)."""
from typing import List, Optional, Sequence

import torch
from mmdet.models.task_modules import AnchorGenerator
from torch import Tensor

from crrg.registry import TASK_UTILS


@TASK_UTILS.register_module()
class RoundedAnchorGenerator(AnchorGenerator):
    """Anchors as torchvision's ``AnchorGenerator`` makes them.

    Base anchors are centred on (0, 0), of width ``size / sqrt(ratio)`` and
    height ``size * sqrt(ratio)`` for every ratio (outer) and size (inner),
    and rounded to whole pixels (torch's round half to even), as torchvision
    rounds them; the grid shifts them by the level's stride, row-major, as
    mmdet's generator does. RGRG's detector: sizes 20, 40, ..., 180, 300 and
    16 aspect ratios (height / width) 0.2 ... 8.0 on the stride-32 map (160
    anchors per location).

    Args:
        strides (Sequence[int]): Stride of each level, in pixels.
        sizes (Sequence[Sequence[float]]): Anchor sizes (square root of the
            area, pixels) of each level.
        ratios (Sequence[float]): Aspect ratios (height / width), in order.
    """

    def __init__(self, strides: Sequence[int],
                 sizes: Sequence[Sequence[float]],
                 ratios: Sequence[float]) -> None:
        if len(sizes) != len(strides):
            raise ValueError('RoundedAnchorGenerator: one list of sizes per '
                             f'stride, got {len(sizes)} for {len(strides)} '
                             'strides')
        # torch.Tensor (CPU float32) as mmdet's generator makes its tensors
        self.level_sizes = [torch.Tensor(s) for s in sizes]
        # base size 1, scale = size: mmdet's formula then gives torchvision's
        # widths exactly (1 * x == x)
        super().__init__(
            strides=strides,
            ratios=ratios,
            scales=list(sizes[0]),
            base_sizes=[1] * len(strides),
            scale_major=True,
            center_offset=0.)

    def gen_base_anchors(self) -> List[Tensor]:
        """(A, 4) rounded xyxy base anchors of each level."""
        return [
            self.gen_single_level_base_anchors(1, sizes, self.ratios)
            for sizes in self.level_sizes
        ]

    def gen_single_level_base_anchors(self,
                                      base_size,
                                      scales: Tensor,
                                      ratios: Tensor,
                                      center: Optional[tuple] = None
                                      ) -> Tensor:
        """torchvision's ``generate_anchors``: (A, 4) base anchors, ratio
        major, rounded."""
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()
