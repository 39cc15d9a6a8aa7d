"""Centre padding (RGRG's ``PadIfNeeded``), with the offset kept."""
from typing import Tuple

import mmcv
from mmcv.transforms import BaseTransform

from crrg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CenterPad(BaseTransform):
    """Pad an image to ``size`` with ``pad_val`` on all sides, centred.

    ``(size - image) // 2`` pixels go above / left and the rest below /
    right, as albumentations' ``PadIfNeeded`` (RGRG's pre-processing) does;
    mmdet's ``Pad`` pads only at the bottom / right. The offset is kept in
    ``pad_offset`` so predictions can be mapped back to the original image
    (:meth:`~crrg.models.report_generators.BaseReportGenerator.
    boxes_to_original`); ground-truth boxes move with the image. An image
    already as large as ``size`` is left as it is (offset 0).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``gt_bboxes`` (optional). Added keys: ``pad_shape``, ``pad_offset``
    ((left, top) pixels).

    Args:
        size (tuple[int, int]): (width, height) to pad to.
        pad_val (int | float): The fill value. Defaults to 0.
    """

    def __init__(self, size: Tuple[int, int], pad_val: float = 0) -> None:
        self.size = tuple(size)
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        pad_w = max(self.size[0] - width, 0)
        pad_h = max(self.size[1] - height, 0)
        left, top = pad_w // 2, pad_h // 2
        img = mmcv.impad(
            img,
            padding=(left, top, pad_w - left, pad_h - top),
            pad_val=self.pad_val)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['pad_shape'] = img.shape
        results['pad_offset'] = (left, top)
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'].translate_([left, top])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'pad_val={self.pad_val})')
