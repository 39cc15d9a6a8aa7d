"""torchvision's box coding as an mmdet box coder (RGRG's detector)."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from mmdet.models.task_modules.coders import BaseBBoxCoder
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from crrg.registry import TASK_UTILS

#: torchvision's clamp of the width / height deltas
TORCHVISION_XFORM_CLIP = math.log(1000. / 16)


@TASK_UTILS.register_module()
class TorchvisionDeltaXYWHBBoxCoder(BaseBBoxCoder):
    """Box deltas as torchvision's ``BoxCoder`` computes them.

    Deltas ``(dx, dy, dw, dh)`` are divided by ``weights`` (torchvision
    divides; mmdet's ``DeltaXYWHBBoxCoder`` multiplies by stds, which is not
    the same in floating point), widths are ``x2 - x1`` (no +1), and ``dw``,
    ``dh`` are clamped at ``log(1000 / 16)`` before ``exp``. Decoded boxes
    are clipped to ``max_shape`` as torchvision's ``clip_boxes_to_image``.

    Args:
        weights (Sequence[float]): ``(wx, wy, ww, wh)``. torchvision's RPN
            uses (1, 1, 1, 1), its RoI heads (10, 10, 5, 5).
        clip (float): Clamp of ``dw`` and ``dh``. Defaults to
            ``log(1000 / 16)``.
    """

    def __init__(self,
                 weights: Sequence[float] = (1., 1., 1., 1.),
                 clip: float = TORCHVISION_XFORM_CLIP,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.weights = tuple(float(w) for w in weights)
        self.clip = clip

    def encode(self, bboxes, gt_bboxes) -> Tensor:
        """Deltas (N, 4) that turn ``bboxes`` (N, 4) into ``gt_bboxes``."""
        bboxes = get_box_tensor(bboxes).float()
        gt_bboxes = get_box_tensor(gt_bboxes).float()
        wx, wy, ww, wh = self.weights
        ex_w = bboxes[:, 2] - bboxes[:, 0]
        ex_h = bboxes[:, 3] - bboxes[:, 1]
        ex_x = bboxes[:, 0] + 0.5 * ex_w
        ex_y = bboxes[:, 1] + 0.5 * ex_h
        gt_w = gt_bboxes[:, 2] - gt_bboxes[:, 0]
        gt_h = gt_bboxes[:, 3] - gt_bboxes[:, 1]
        gt_x = gt_bboxes[:, 0] + 0.5 * gt_w
        gt_y = gt_bboxes[:, 1] + 0.5 * gt_h
        return torch.stack([
            wx * (gt_x - ex_x) / ex_w, wy * (gt_y - ex_y) / ex_h,
            ww * torch.log(gt_w / ex_w), wh * torch.log(gt_h / ex_h)
        ], dim=1)

    def decode(self,
               bboxes,
               pred_bboxes: Tensor,
               max_shape: Optional[Union[Tuple[int, ...], Tensor]] = None,
               **kwargs) -> Tensor:
        """Apply deltas to boxes.

        Args:
            bboxes (Tensor): (N, 4) xyxy boxes.
            pred_bboxes (Tensor): (N, 4 * K) deltas (K boxes per row, e.g.
                one per class).
            max_shape (tuple, optional): (H, W) to clip to.

        Returns:
            Tensor: (N, 4 * K) xyxy boxes.
        """
        bboxes = get_box_tensor(bboxes).to(pred_bboxes.dtype)
        wx, wy, ww, wh = self.weights
        widths = bboxes[:, 2] - bboxes[:, 0]
        heights = bboxes[:, 3] - bboxes[:, 1]
        ctr_x = bboxes[:, 0] + 0.5 * widths
        ctr_y = bboxes[:, 1] + 0.5 * heights
        dx = pred_bboxes[:, 0::4] / wx
        dy = pred_bboxes[:, 1::4] / wy
        dw = (pred_bboxes[:, 2::4] / ww).clamp(max=self.clip)
        dh = (pred_bboxes[:, 3::4] / wh).clamp(max=self.clip)
        pred_x = dx * widths[:, None] + ctr_x[:, None]
        pred_y = dy * heights[:, None] + ctr_y[:, None]
        half_w = 0.5 * (torch.exp(dw) * widths[:, None])
        half_h = 0.5 * (torch.exp(dh) * heights[:, None])
        boxes = torch.stack(
            [pred_x - half_w, pred_y - half_h, pred_x + half_w,
             pred_y + half_h], dim=2)
        if max_shape is not None:
            height, width = max_shape[:2]
            boxes[..., 0::2] = boxes[..., 0::2].clamp(0, width)
            boxes[..., 1::2] = boxes[..., 1::2].clamp(0, height)
        return boxes.flatten(1)
