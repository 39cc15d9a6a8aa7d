"""CenterPad and RGRG's pre-processing: longest side 512 (area), centred
zero padding, boxes back to original pixels through the padding."""
import cv2
import numpy as np
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.dataset import Compose

from crrg.models.report_generators import BaseReportGenerator
from crrg.utils import register_all_modules

register_all_modules()

RGRG_PIPELINE = [
    dict(type='Resize', scale=(512, 512), keep_ratio=True,
         interpolation='area'),
    dict(type='CenterPad', size=(512, 512), pad_val=0),
]


def rgrg_reference(img):
    """albumentations' LongestMaxSize(512, INTER_AREA) + PadIfNeeded(512,
    512, constant 0) written with cv2, as RGRG's get_image_tensor runs."""
    height, width = img.shape[:2]
    scale = 512 / max(height, width)
    size = (round(width * scale), round(height * scale))
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    top = (512 - size[1]) // 2
    left = (512 - size[0]) // 2
    return cv2.copyMakeBorder(img, top, 512 - size[1] - top, left,
                              512 - size[0] - left, cv2.BORDER_CONSTANT,
                              value=0)


def test_rgrg_pipeline_equals_rgrg_preprocessing():
    rng = np.random.default_rng(0)
    for height, width in ((1841, 1955), (3056, 2544), (700, 300)):
        img = rng.integers(0, 256, (height, width), dtype=np.uint8)
        box = np.array([[100., 50., 250., 290.]], np.float32)
        out = Compose(RGRG_PIPELINE)(
            dict(img=img, img_shape=img.shape, ori_shape=img.shape,
                 gt_bboxes=HorizontalBoxes(box)))
        expected = rgrg_reference(img)
        assert out['img'].shape == (512, 512) == out['img_shape']
        assert np.array_equal(out['img'], expected)
        left, top = out['pad_offset']
        assert (left == 0) != (top == 0) or height == width
        # the ground-truth box moved with the image, and maps back
        meta = dict(pad_offset=out['pad_offset'],
                    scale_factor=out['scale_factor'],
                    ori_shape=(height, width))
        moved = torch.as_tensor(out['gt_bboxes'].tensor)
        back = BaseReportGenerator.boxes_to_original(moved, meta)
        torch.testing.assert_close(back, torch.as_tensor(box))


def test_center_pad_keeps_large_images_and_pads_centred():
    img = np.full((10, 7, 3), 5, np.uint8)
    out = Compose([dict(type='CenterPad', size=(12, 13), pad_val=0)])(
        dict(img=img))
    assert out['img'].shape == (13, 12, 3) and out['pad_offset'] == (2, 1)
    assert out['img'][1:11, 2:9].min() == 5
    assert out['img'].sum() == img.sum()
    out = Compose([dict(type='CenterPad', size=(5, 5))])(dict(img=img))
    assert out['img'].shape == img.shape and out['pad_offset'] == (0, 0)
