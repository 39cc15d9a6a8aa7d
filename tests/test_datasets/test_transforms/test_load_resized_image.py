import glob
import os
import os.path as osp
import threading

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from PIL import ExifTags, Image

from crrg.datasets.transforms import load_resized_image
from crrg.registry import TRANSFORMS
from crrg.utils.errors import DataFormatError, ImageDecodeError

# (x1, y1, x2, y2) bright rectangles on a dark X-ray-sized image
BOXES = np.array([[301, 452, 1211, 1630], [1500, 700, 2301, 2950]],
                 dtype=np.float32)


def xray_jpeg(path, width=2500, height=3000, mode='L', background=40):
    img = np.full((height, width), background, np.uint8)
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


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_reduced_decode_applies_exif_orientation(tmp_path, orientation):
    path = str(tmp_path / 'x.jpg')
    img = np.full((600, 1000), 40, np.uint8)
    img[100:200, 50:400] = 220  # off-centre: every turn moves it
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    Image.fromarray(img).save(path, quality=95, exif=exif)
    # the shipped configs' loader (Pillow's exif_transpose) + Resize
    load = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
    resize = TRANSFORMS.build(dict(type='Resize', scale=(256, 256),
                                   keep_ratio=True))
    full = resize(load(dict(img_path=path)))
    fast = fast_path(path, (256, 256))
    assert fast['ori_shape'] == full['ori_shape'] == (
        (600, 1000) if orientation == 3 else (1000, 600))
    assert fast['img_shape'] == full['img_shape']
    assert fast['scale_factor'] == full['scale_factor']
    assert np.abs(fast['img'].astype(int) - full['img']).mean() < 3


def test_reduced_decode_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.jpg') as info:
        fast_path(str(tmp_path / 'absent.jpg'), (512, 512))
    # and skipped/counted by datasets with skip_invalid=True
    assert isinstance(info.value, ImageDecodeError)
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(ImageDecodeError, match=r'empty.jpg.*empty \(0 b'):
        fast_path(str(empty), (512, 512))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    with pytest.raises(DataFormatError, match='bad.jpg.*cannot decode'):
        fast_path(str(bad), (512, 512))
    whole = tmp_path / 'whole.jpg'
    xray_jpeg(str(whole), width=600, height=500)
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    with pytest.raises(ImageDecodeError, match='truncated.jpg'):
        fast_path(str(truncated), (512, 512), cache_dir=str(tmp_path / 'c'))
    assert not (tmp_path / 'c').exists()  # nothing cached for a bad image
    deep = tmp_path / 'deep.png'
    Image.fromarray(np.full((64, 64), 4000, np.uint16)).save(deep)
    with pytest.raises(DataFormatError, match='16-bit'):
        fast_path(str(deep), (512, 512))
    with pytest.raises(ValueError, match='color_type'):
        TRANSFORMS.build(dict(type='LoadResizedImage', scale=512,
                              color_type='unchanged'))


# ------------------------------------------------------- decode-once cache
def entries(cache_dir):
    return sorted(glob.glob(osp.join(cache_dir, '*', '*')))


def same(out, ref):
    assert out['img'].dtype == ref['img'].dtype
    np.testing.assert_array_equal(out['img'], ref['img'])
    np.testing.assert_array_equal(out['gt_bboxes'].numpy(),
                                  ref['gt_bboxes'].numpy())
    for key in ('img_shape', 'ori_shape', 'scale_factor', 'keep_ratio',
                'scale'):
        assert out[key] == ref[key], key


@pytest.mark.parametrize('color_type', ['color', 'grayscale'])
def test_cache_hit_equals_uncached_path(tmp_path, monkeypatch, color_type):
    path = str(tmp_path / 'x.jpg')
    xray_jpeg(path, width=1000, height=1200)
    cache = str(tmp_path / 'cache')
    uncached = fast_path(path, (512, 512), color_type=color_type)
    first = fast_path(path, (512, 512), color_type=color_type,
                      cache_dir=cache)
    same(first, uncached)
    [entry] = entries(cache)
    assert entry.endswith('.npy')
    # the entry is a plain .npy of the model-size grey pixels
    np.testing.assert_array_equal(np.load(entry), uncached['img'][..., 0]
                                  if color_type == 'color' else
                                  uncached['img'])

    def no_decode(*args):
        raise AssertionError('decoded although the entry is cached')

    monkeypatch.setattr(load_resized_image.LoadResizedImage, 'decode', no_decode)
    hit = fast_path(path, (512, 512), color_type=color_type,
                    cache_dir=cache)
    same(hit, uncached)
    assert hit['img'].flags.writeable and hit['img'].flags.c_contiguous
    assert len(entries(cache)) == 1


def test_cache_colour_source(tmp_path):
    path = str(tmp_path / 'x.jpg')
    img = np.zeros((300, 400, 3), np.uint8)
    img[50:200, 100:300] = (250, 30, 10)  # red in RGB
    Image.fromarray(img).save(path, quality=95)
    cache = str(tmp_path / 'cache')
    uncached = fast_path(path, (256, 256))
    assert uncached['img'][120, 100, 2] > 200  # BGR: red last
    fast_path(path, (256, 256), cache_dir=cache)
    same(fast_path(path, (256, 256), cache_dir=cache), uncached)


def test_changed_source_or_setting_is_decoded_again(tmp_path):
    path = str(tmp_path / 'x.jpg')
    cache = str(tmp_path / 'cache')
    xray_jpeg(path, width=1000, height=1200)
    old = fast_path(path, (512, 512), cache_dir=cache)
    # the same file name with other pixels and a new modification time
    xray_jpeg(path, width=1000, height=1200, background=90)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    new = fast_path(path, (512, 512), cache_dir=cache)
    same(new, fast_path(path, (512, 512)))
    assert new['img'][5, 5, 0] > old['img'][5, 5, 0] + 30
    assert len(entries(cache)) == 2
    # another target scale never reuses the entry of the first
    other = fast_path(path, (256, 256), cache_dir=cache)
    same(other, fast_path(path, (256, 256)))
    assert len(entries(cache)) == 3


@pytest.mark.parametrize('damage,reason', [
    ('truncate', 'bytes instead of'), ('flip', 'CRC-32'),
    ('size', 'CRC-32'), ('garbage', 'magic'),
    ('shape', 'not the target size')])
def test_damaged_cache_entry_is_decoded_again_with_warning(
        tmp_path, monkeypatch, damage, reason):
    path = str(tmp_path / 'x.jpg')
    cache = str(tmp_path / 'cache')
    xray_jpeg(path, width=1000, height=1200)
    ref = fast_path(path, (512, 512), cache_dir=cache)
    [entry] = entries(cache)
    data = bytearray(open(entry, 'rb').read())
    if damage == 'truncate':
        data = data[:len(data) // 2]
    elif damage == 'flip':  # one pixel byte: only the CRC-32 tells
        data[len(data) // 2] ^= 0x10
    elif damage == 'size':  # the original size: same target, other factors
        data[-12:-8] = (1001).to_bytes(4, 'little')
    elif damage == 'garbage':
        data = b'\x00' * 100
    else:  # a valid entry of another size (e.g. copied by hand)
        small = np.zeros((10, 10), np.uint8)
        with open(entry, 'wb') as f:
            np.save(f, small)
        data = open(entry, 'rb').read() + load_resized_image.CACHE_TRAILER.pack(
            load_resized_image.CACHE_MAGIC, 1000, 1200,
            load_resized_image.cache_checksum(small, 1000, 1200))
    with open(entry, 'wb') as f:
        f.write(data)
    logged = []
    monkeypatch.setattr(load_resized_image, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    out = fast_path(path, (512, 512), cache_dir=cache)
    same(out, ref)
    assert len(logged) == 1 and entry in logged[0] and path in logged[0]
    assert 'damaged decode-cache entry' in logged[0]
    assert reason in logged[0]
    # the entry was rewritten: read again without a warning
    same(fast_path(path, (512, 512), cache_dir=cache), ref)
    assert len(logged) == 1


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / 'x.jpg')
    cache = str(tmp_path / 'cache')
    xray_jpeg(path, width=1000, height=1200)
    ref = fast_path(path, (512, 512))
    replaced = []
    real_replace = os.replace

    def replace(src, dst):
        # the entry appears only by renaming a complete file of its folder
        assert not osp.exists(dst)
        assert osp.dirname(src) == osp.dirname(dst) and src != dst
        np.testing.assert_array_equal(np.load(src), ref['img'][..., 0])
        replaced.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(load_resized_image.os, 'replace', replace)
    fast_path(path, (512, 512), cache_dir=cache)
    assert replaced == entries(cache)

    # a failed write leaves neither the entry nor its temporary file
    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(load_resized_image.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='cannot write the decode cache'):
        fast_path(path, (256, 256), cache_dir=cache)
    assert entries(cache) == replaced
    assert not glob.glob(osp.join(cache, '*', '.tmp-*'))


def test_cache_concurrent_writers(tmp_path):
    path = str(tmp_path / 'x.jpg')
    cache = str(tmp_path / 'cache')
    xray_jpeg(path, width=1000, height=1200)
    ref = fast_path(path, (512, 512))
    outs = [None] * 4

    def worker(i):
        outs[i] = fast_path(path, (512, 512), cache_dir=cache)

    threads = [threading.Thread(target=worker, args=(i, ))
               for i in range(len(outs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for out in outs:
        same(out, ref)
    assert len(entries(cache)) == 1  # no temporary file left behind
    same(fast_path(path, (512, 512), cache_dir=cache), ref)
