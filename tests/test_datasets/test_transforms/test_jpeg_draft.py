import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from PIL import Image

from crrg.registry import TRANSFORMS
from crrg.utils.errors import DataFormatError

# (x1, y1, x2, y2) bright rectangles on a dark X-ray-sized image
BOXES = np.array([[301, 452, 1211, 1630], [1500, 700, 2301, 2950]],
                 dtype=np.float32)


def xray_jpeg(path, width=2500, height=3000, mode='L'):
    img = np.full((height, width), 40, np.uint8)
    for x1, y1, x2, y2 in BOXES.astype(int):
        img[y1:y2, x1:x2] = 220
    pil = Image.fromarray(img)
    if mode != 'L':
        pil = pil.convert(mode)
    pil.save(path, quality=95)


def full_path(path, scale):
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    resize = TRANSFORMS.build(dict(type='Resize', scale=scale,
                                   keep_ratio=True))
    return resize(load(dict(img_path=path, gt_bboxes=HorizontalBoxes(
        BOXES.copy()))))


def fast_path(path, scale, **kwargs):
    fast = TRANSFORMS.build(dict(type='LoadResizedImage', scale=scale,
                                 keep_ratio=True, **kwargs))
    return fast(dict(img_path=path, gt_bboxes=HorizontalBoxes(BOXES.copy())))


def edges(img, boxes):
    """(x1, y1, x2, y2) of the bright pixels' rectangle in each box."""
    bright = img > 130
    out = []
    for x1, y1, x2, y2 in boxes:
        sub = np.zeros_like(bright)
        sub[max(int(y1) - 3, 0):int(y2) + 3,
            max(int(x1) - 3, 0):int(x2) + 3] = True
        ys, xs = np.nonzero(bright & sub)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.array(out, np.float32)


@pytest.mark.parametrize('mode', ['L', 'RGB'])
def test_reduced_decode_matches_full_decode(tmp_path, mode):
    path = str(tmp_path / 'x.jpg')
    xray_jpeg(path, mode=mode)
    full = full_path(path, (512, 512))
    fast = fast_path(path, (512, 512))
    for key in ('img_shape', 'ori_shape', 'scale_factor'):
        assert tuple(fast[key]) == tuple(full[key]), key
    assert fast['ori_shape'] == (3000, 2500)
    assert fast['img'].shape == full['img'].shape == (512, 427, 3)
    assert fast['img'].dtype == np.uint8
    np.testing.assert_allclose(fast['gt_bboxes'].numpy(),
                               full['gt_bboxes'].numpy(), atol=1e-4)
    # the pixels: the rectangles sit where the scaled boxes say, within a
    # pixel, in both paths
    boxes = full['gt_bboxes'].numpy()
    gray_fast, gray_full = fast['img'][..., 0], full['img'][..., 0]
    np.testing.assert_allclose(edges(gray_fast, boxes), boxes, atol=1.0)
    np.testing.assert_allclose(edges(gray_full, boxes), boxes, atol=1.0)
    assert np.abs(gray_fast.astype(int) - gray_full).mean() < 3


def test_reduced_decode_grayscale_and_png(tmp_path):
    jpg = str(tmp_path / 'x.jpg')
    xray_jpeg(jpg, width=1000, height=800)
    out = fast_path(jpg, (512, 512), color_type='grayscale')
    assert out['img'].shape == (410, 512)
    png = str(tmp_path / 'x.png')
    Image.open(jpg).save(png)
    out_png = fast_path(png, (512, 512))
    assert out_png['img'].shape == (410, 512, 3)
    assert out_png['scale_factor'] == (512 / 1000, 410 / 800)


def test_reduced_decode_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.jpg'):
        fast_path(str(tmp_path / 'absent.jpg'), (512, 512))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    with pytest.raises(DataFormatError, match='bad.jpg'):
        fast_path(str(bad), (512, 512))
    deep = tmp_path / 'deep.png'
    Image.fromarray(np.full((64, 64), 4000, np.uint16)).save(deep)
    with pytest.raises(DataFormatError, match='16-bit'):
        fast_path(str(deep), (512, 512))
    with pytest.raises(ValueError, match='color_type'):
        TRANSFORMS.build(dict(type='LoadResizedImage', scale=512,
                              color_type='unchanged'))
