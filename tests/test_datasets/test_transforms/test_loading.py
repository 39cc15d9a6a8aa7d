"""LoadXrayImageFromFile on real DICOM radiographs and on damaged files."""
import io

import cv2
import numpy as np
import pydicom
import pytest

from crrg.registry import TRANSFORMS
from crrg.utils.real_data import real_data_file
from crrg.datasets.synthetic.rsna import write_dicom
from crrg.utils import DataFormatError, ImageDecodeError


def load(path, **kwargs):
    return TRANSFORMS.build(dict(type='LoadXrayImageFromFile', **kwargs))(
        dict(img_path=str(path)))


def real(name):
    path = real_data_file(name)
    if path is None:
        pytest.skip(f'real file {name} not cached: run '
                    'python tools/fetch_real_data.py')
    return path


def test_real_chest_radiograph_same_pixels_from_every_encoding():
    """RG1 (CR, PA, 15-bit, MONOCHROME1): uncompressed and JPEG 2000."""
    uncr = load(real('RG1_UNCR'))
    assert uncr['img'].shape == (1955, 1841, 3)
    assert uncr['img'].dtype == np.uint8
    assert uncr['ori_shape'] == uncr['img_shape'] == (1955, 1841)
    assert uncr['img_warnings'] == []
    # lossless JPEG 2000 decodes to the very same pixels
    j2kr = load(real('RG1_J2KR'))
    np.testing.assert_array_equal(j2kr['img'], uncr['img'])
    # lossy JPEG 2000 vs its own uncompressed reconstruction (UNCI), and
    # close to the original
    j2ki, unci = load(real('RG1_J2KI')), load(real('RG1_UNCI'))
    np.testing.assert_array_equal(j2ki['img'], unci['img'])
    diff = np.abs(j2ki['img'].astype(int) - uncr['img'].astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3


def test_real_chest_radiograph_is_windowed_and_not_a_negative():
    path = real('RG1_UNCR')
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == 'MONOCHROME1'
    img = load(path)['img'][..., 0].astype(int)
    # the header's linear window (DICOM PS3.3 C.11.2.1.2), written out,
    # over the 15-bit output range, then MONOCHROME1 inverted
    raw = ds.pixel_array.astype(np.float64)
    c, w = float(ds.WindowCenter) - 0.5, float(ds.WindowWidth) - 1
    y = np.clip((raw - c) / w + 0.5, 0, 1)
    expected = 255 - np.round(y * 255)
    assert np.abs(img - expected).max() <= 1
    # white = dense: the mediastinum (centre column) is brighter than the
    # lung fields on either side, the air outside the body darkest
    h, w = img.shape
    rows = slice(int(0.25 * h), int(0.5 * h))
    mediastinum = img[rows, int(0.47 * w):int(0.53 * w)].mean()
    right_lung = img[rows, int(0.2 * w):int(0.35 * w)].mean()
    left_lung = img[rows, int(0.65 * w):int(0.8 * w)].mean()
    assert mediastinum > right_lung + 30 and mediastinum > left_lung + 30
    # no clipping of a naive min-max: the window leaves both ends unused
    assert img.min() > 0 and img.max() < 255


@pytest.mark.parametrize('encoding', ['UNCR', 'J2KR'])
def test_extremity_radiograph_gets_the_not_a_chest_warning(encoding):
    result = load(real(f'RG3_{encoding}'))
    assert len(result['img_warnings']) == 1
    warning = result['img_warnings'][0]
    assert f'RG3_{encoding}.dcm' in warning
    assert 'not a frontal chest radiograph' in warning
    assert 'EXTREMITY' in warning
    assert result['not_chest_reasons'] == ["BodyPartExamined is 'EXTREMITY'"]


def test_a_lateral_view_gets_the_warning_too(tmp_path):
    path = tmp_path / 'lateral.dcm'
    write_dicom(str(path), np.full((40, 40), 90, np.uint8), 'patient')
    assert load(path)['not_chest_reasons'] == []  # CHEST, PA
    ds = pydicom.dcmread(str(path))
    ds.ViewPosition = 'LL'
    ds.save_as(str(path))
    result = load(path)
    (reason, ) = result['not_chest_reasons']
    assert reason.startswith("ViewPosition is 'LL', a lateral view")
    assert 'lateral view' in result['img_warnings'][0]


def test_16_bit_png_keeps_its_full_depth(tmp_path):
    # a 12-bit ramp stored in a 16-bit PNG: an 8-bit conversion by clipping
    # or by dropping the low byte would flatten it
    ramp = np.tile(np.linspace(100, 4000, 64).astype(np.uint16), (48, 1))
    path = tmp_path / 'ramp16.png'
    cv2.imwrite(str(path), ramp)
    img = load(path)['img']
    assert img.shape == (48, 64, 3)
    expected = np.round((ramp - 100.0) / 3900 * 255)
    np.testing.assert_array_equal(img[..., 0], expected)
    assert len(np.unique(img)) == 64


def test_colour_jpeg_becomes_grey_luma(tmp_path):
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / 'red.png'
    cv2.imwrite(str(path), rgb[..., ::-1])
    img = load(path)['img']
    assert np.all(img == round(0.299 * 200))


def test_synthetic_dicom_monochrome2_min_max_when_no_window(tmp_path):
    pixels = np.tile(np.arange(10, 210, 5, dtype=np.uint8), (40, 1))
    path = str(tmp_path / 'm2.dcm')
    write_dicom(path, pixels, 'p1')
    img = load(path)['img'][..., 0]
    assert img[0, 0] == 0 and img[0, -1] == 255
    assert np.all(np.diff(img[0].astype(int)) > 0)


def test_rle_and_jpeg_baseline_dicom_decode(tmp_path):
    """The other common transfer syntaxes of the same synthetic image."""
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, RLELossless
    pixels = (np.arange(64 * 64).reshape(64, 64) % 200).astype(np.uint8)
    plain = str(tmp_path / 'plain.dcm')
    write_dicom(plain, pixels, 'p3')
    rle = pydicom.dcmread(plain)
    rle.compress(RLELossless)
    rle.save_as(str(tmp_path / 'rle.dcm'))
    jpeg = pydicom.dcmread(plain)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='JPEG', quality=95)
    jpeg.PixelData = encapsulate([buffer.getvalue()])
    jpeg['PixelData'].VR = 'OB'
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    jpeg.save_as(str(tmp_path / 'jpeg.dcm'))
    reference = load(plain)['img'].astype(int)
    np.testing.assert_array_equal(load(tmp_path / 'rle.dcm')['img'],
                                  reference)
    assert np.abs(load(tmp_path / 'jpeg.dcm')['img'] - reference).max() <= 3


def test_invalid_window_is_named(tmp_path):
    path = str(tmp_path / 'window.dcm')
    write_dicom(path, np.zeros((40, 40), np.uint8), 'p4')
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 100, 0
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageDecodeError, match='window.dcm: invalid rescale'):
        load(path)


def _jpeg(tmp_path, name='ok.jpg', size=64):
    img = (np.arange(size * size).reshape(size, size) % 251).astype(np.uint8)
    path = tmp_path / name
    cv2.imwrite(str(path), img)
    return path


@pytest.mark.parametrize('damage, reason', [
    ('empty', r'empty \(0 bytes\)'),
    ('truncated', 'cannot decode the image.*truncated'),
    ('garbage', 'cannot decode the image'),
    ('missing', 'not found'),
    ('tiny', r'1x1 pixels, below the minimum side of 32'),
    ('dicom_truncated', 'DICOM'),
])
def test_bad_files_raise_image_decode_error_naming_the_file(
        tmp_path, damage, reason):
    good = _jpeg(tmp_path)
    path = tmp_path / f'{damage}.img'
    data = good.read_bytes()
    if damage == 'empty':
        path.write_bytes(b'')
    elif damage == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif damage == 'garbage':
        path.write_bytes(b'this is not an image' * 10)
    elif damage == 'tiny':
        cv2.imwrite(str(tmp_path / 'tiny.png'), np.zeros((1, 1), np.uint8))
        path = tmp_path / 'tiny.png'
    elif damage == 'dicom_truncated':
        dcm = str(tmp_path / 'full.dcm')
        write_dicom(dcm, np.zeros((64, 64), np.uint8), 'p2')
        path = tmp_path / 'dicom_truncated.dcm'
        path.write_bytes(open(dcm, 'rb').read()[:1000])
    with pytest.raises(ImageDecodeError, match=reason) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DataFormatError)


def test_min_size_is_configurable(tmp_path):
    path = _jpeg(tmp_path, size=40)
    assert load(path, min_size=40)['img'].shape == (40, 40, 3)
    with pytest.raises(ImageDecodeError, match='below the minimum side of 41'):
        load(path, min_size=41)


def test_grayscale_and_float_options(tmp_path):
    path = _jpeg(tmp_path)
    gray = load(path, color_type='grayscale', to_float32=True)['img']
    assert gray.shape == (64, 64) and gray.dtype == np.float32
    colour = load(path)['img']
    np.testing.assert_array_equal(gray, colour[..., 0])
