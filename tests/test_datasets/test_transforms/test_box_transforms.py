import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.dataset import Compose

from crrg.datasets.transforms import RandomGaussianNoise


def _results():
    img = np.zeros((300, 240, 3), dtype=np.uint8)
    boxes = np.array([[30, 40, 110, 200], [150, 20, 210, 80]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        img[y1:y2, x1:x2] = 220
    return dict(
        img=img,
        img_shape=img.shape[:2],
        ori_shape=img.shape[:2],
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=np.array([0, 16]),
        gt_ignore_flags=np.array([False, False]))


def _inside_mean(img, box):
    x1, y1, x2, y2 = np.round(box).astype(int)
    w, h = x2 - x1, y2 - y1
    # the central 60% of the box: robust to a few pixels of rotation
    return img[y1 + h // 5:y2 - h // 5, x1 + w // 5:x2 - w // 5].mean()


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_boxes_stay_on_their_regions(seed):
    np.random.seed(seed)
    pipeline = Compose([
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='Pad', size=(128, 128), pad_val=dict(img=0)),
        dict(type='YOLOXHSVRandomAug', hue_delta=5, saturation_delta=0,
             value_delta=10),
        dict(type='RandomGaussianNoise', std=(0., 8.), prob=1.0),
        dict(type='RandomAffine', max_rotate_degree=5.0,
             max_translate_ratio=0.1, scaling_ratio_range=(1.0, 1.0),
             max_shear_degree=0.0, border_val=(0, 0, 0)),
    ])
    out = pipeline(_results())
    img = out['img'][..., 0].astype(float)
    assert out['img'].shape[:2] == (128, 128)
    assert list(out['gt_bboxes_labels']) == [0, 16]
    for box in out['gt_bboxes'].numpy():
        assert _inside_mean(img, box) > 150
    # and the background stays dark
    assert np.median(img) < 60


def test_gaussian_noise_changes_image_within_bounds():
    np.random.seed(0)
    img = np.full((20, 20, 3), 128, np.uint8)
    out = RandomGaussianNoise(std=5.0, prob=1.0).transform(dict(img=img))
    assert out['img'].dtype == np.uint8
    diff = out['img'].astype(float) - 128
    assert 3 < diff.std() < 7
    # one noise field for all channels of a grey image
    assert (out['img'][..., 0] == out['img'][..., 2]).all()
    kept = RandomGaussianNoise(std=5.0, prob=0.0).transform(dict(img=img))
    assert (kept['img'] == 128).all()
