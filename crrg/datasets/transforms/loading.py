"""Loading chest X-rays: JPEG / PNG and DICOM, with named failures.

Every image becomes a uint8 greyscale picture (white = dense) copied to
three channels, as mmcv's ``LoadImageFromFile`` delivers a colour image.

- 8-bit JPEG / PNG (and any format Pillow reads): the grey values as stored;
  colour images are converted to luma (ITU-R 601).
- 16-bit PNG (and other high-depth rasters): the stored values min-max
  scaled to 0..255 in floating point, so the full depth is used before the
  8-bit rounding (Pillow's own 8-bit conversion clips at 255).
- DICOM (pydicom): the modality LUT (RescaleSlope / RescaleIntercept), then
  the first VOI LUT or window (WindowCenter / WindowWidth) of the header,
  scaled from that output range to 0..255; MONOCHROME1 (low = white) is
  inverted. Without a VOI transform the modality values are min-max scaled.
  Compressed transfer syntaxes decode through pydicom's plugins: JPEG 2000
  with pylibjpeg + pylibjpeg-openjpeg, JPEG lossless / JPEG-LS with
  python-gdcm, JPEG baseline with Pillow, RLE natively.

Anything that cannot be read raises :class:`crrg.utils.ImageDecodeError`
naming the file and the reason.
"""
import io
import logging
from typing import List, Optional, Tuple

import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from crrg.registry import TRANSFORMS
from crrg.utils import ImageDecodeError

DICOM_SUFFIXES = ('.dcm', '.dicom', '.dic')
#: DICOM Modality values of projection radiographs
RADIOGRAPH_MODALITIES = ('CR', 'DX', 'RG', 'DR')
_CHEST_WORDS = ('CHEST', 'THORAX', 'THORAC', 'LUNG', 'CXR', 'TORAX', 'THORX')
#: DICOM ViewPosition values of lateral views (crrg's models read frontal
#: PA / AP views)
LATERAL_VIEWS = ('LL', 'RL', 'LATERAL', 'LAT', 'XTABLE LATERAL')


def is_dicom(path: str, data: bytes) -> bool:
    """A ``.dcm`` name or the ``DICM`` magic at byte 128 (DICOM Part 10)."""
    return path.lower().endswith(DICOM_SUFFIXES) or data[128:132] == b'DICM'


def scale_to_uint8(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to 0..255 (clipped), rounding once."""
    pixels = (pixels.astype(np.float64) - low) / max(high - low, 1e-12)
    return np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)


def _voi_output_range(ds, windowed: np.ndarray) -> Tuple[float, float]:
    """The range a display maps to black..white after the VOI transform.

    A VOI LUT Sequence outputs ``0 .. 2**bits - 1`` (its LUT Descriptor);
    a window outputs the range of the modality values as pydicom's
    ``apply_windowing`` defines it (DICOM PS3.3 C.11.2.1.2); without either
    the image's own min and max.
    """
    if 'VOILUTSequence' in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if 'WindowCenter' in ds and 'WindowWidth' in ds:
        bits = int(ds.BitsStored)
        if ds.get('ModalityLUTSequence'):
            low, high = 0, 2**int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
        elif int(ds.PixelRepresentation) == 0:
            low, high = 0, 2**bits - 1
        else:
            low, high = -(2**(bits - 1)), 2**(bits - 1) - 1
        slope, intercept = ds.get('RescaleSlope'), ds.get('RescaleIntercept')
        if slope is not None and intercept is not None:
            low = low * float(slope) + float(intercept)
            high = high * float(slope) + float(intercept)
        return float(low), float(high)
    return float(windowed.min()), float(windowed.max())


def not_chest_reasons(ds) -> List[str]:
    """What in a DICOM header says it is not a frontal chest radiograph
    (may be []).

    Only positive statements count: a Modality other than a projection
    radiograph, a BodyPartExamined / AnatomicRegionSequence naming another
    part, or a lateral ViewPosition (:data:`LATERAL_VIEWS`). A header that
    says nothing (anonymised files) gives [].
    """
    reasons = []
    modality = str(ds.get('Modality', '') or '').upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        reasons.append(f'Modality is {modality!r}, not a radiograph '
                       f'({"/".join(RADIOGRAPH_MODALITIES)})')
    body_part = str(ds.get('BodyPartExamined', '') or '').upper()
    if body_part and not any(w in body_part for w in _CHEST_WORDS):
        reasons.append(f'BodyPartExamined is {body_part!r}')
    anatomy = ds.get('AnatomicRegionSequence')
    if anatomy:
        meaning = str(anatomy[0].get('CodeMeaning', '') or '').upper()
        if meaning and not any(w in meaning for w in _CHEST_WORDS):
            reasons.append(f'AnatomicRegionSequence is {meaning!r}')
    view = str(ds.get('ViewPosition', '') or '').strip().upper()
    if view in LATERAL_VIEWS:
        reasons.append(f'ViewPosition is {view!r}, a lateral view (the '
                       'models read frontal PA / AP views)')
    return reasons


def read_dicom(path: str, data: Optional[bytes] = None) -> Tuple[np.ndarray,
                                                                  List[str]]:
    """A DICOM's pixels as displayed: uint8 (H, W), white = dense.

    Args:
        path (str): The file (named in errors; read when ``data`` is None).
        data (bytes, optional): The file's bytes.

    Returns:
        tuple: ``(pixels, reasons)``: uint8 (H, W) and the reasons the
        header gives for the image not being a frontal chest radiograph
        (:func:`not_chest_reasons`; may be empty).

    Raises:
        ImageDecodeError: Not DICOM, no pixel data, several frames, a colour
            model crrg does not read, or no decoder for the transfer syntax
            (the message names the plugin to install).
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    if data is None:
        with open(path, 'rb') as f:
            data = f.read()
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as err:  # pydicom raises many kinds on a bad header
        raise ImageDecodeError(f'{path}: not a readable DICOM file '
                               f'({type(err).__name__}: {err})') from err
    if 'PixelData' not in ds:
        raise ImageDecodeError(f'{path}: DICOM has no PixelData element')
    if int(ds.get('NumberOfFrames', 1) or 1) > 1:
        raise ImageDecodeError(
            f'{path}: multi-frame DICOM ({ds.NumberOfFrames} frames); crrg '
            'reads single radiographs, export the frame you want')
    syntax = ds.file_meta.get('TransferSyntaxUID', None) if hasattr(
        ds, 'file_meta') else None
    syntax_name = getattr(syntax, 'name', None) or str(syntax)
    try:
        pixels = ds.pixel_array
    except Exception as err:  # missing plugin, corrupt codestream, ...
        raise ImageDecodeError(
            f'{path}: cannot decode the pixel data ({syntax_name}): '
            f'{type(err).__name__}: {err}. Compressed DICOM needs the '
            'decoder plugins of requirements/runtime.txt (pylibjpeg, '
            'pylibjpeg-openjpeg, python-gdcm)') from err
    photometric = str(ds.get('PhotometricInterpretation', 'MONOCHROME2'))
    if photometric in ('MONOCHROME1', 'MONOCHROME2'):
        try:
            values = apply_modality_lut(pixels, ds)
            windowed = apply_voi_lut(values, ds, index=0, prefer_lut=True)
            low, high = _voi_output_range(ds, windowed)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ImageDecodeError(
                f'{path}: invalid rescale / VOI LUT / window fields '
                f'({type(err).__name__}: {err})') from err
        img = scale_to_uint8(windowed, low, high)
        if photometric == 'MONOCHROME1':
            img = 255 - img
    elif photometric == 'RGB' or (photometric.startswith('YBR')
                                  and pixels.ndim == 3):
        # pydicom returns YBR data converted to RGB
        img = _luma(pixels.astype(np.float64))
        img = scale_to_uint8(img, 0, 2**int(ds.BitsStored) - 1)
    else:
        raise ImageDecodeError(
            f'{path}: PhotometricInterpretation {photometric!r} is not a '
            'greyscale or RGB image')
    return img, not_chest_reasons(ds)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of (H, W, 3) RGB."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def read_raster(path: str, data: bytes) -> np.ndarray:
    """A JPEG / PNG / other Pillow-readable image as uint8 (H, W) grey.

    Raises:
        ImageDecodeError: Pillow cannot identify or fully decode the file
            (e.g. a truncated JPEG, whose missing part libjpeg would
            otherwise fill with grey).
    """
    from PIL import Image, ImageOps
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            mode = image.mode
            if mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
                pixels = np.asarray(image).astype(np.float64)
                return scale_to_uint8(pixels, pixels.min(), pixels.max())
            if mode != 'L':
                image = image.convert('L')
            return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as err:
        raise ImageDecodeError(f'{path}: cannot decode the image '
                               f'({type(err).__name__}: {err})') from err


@TRANSFORMS.register_module()
class LoadXrayImageFromFile(BaseTransform):
    """Load a chest X-ray (JPEG / PNG / DICOM) as a 3-channel uint8 image.

    A drop-in for mmcv's ``LoadImageFromFile``: reads ``results['img_path']``
    (through mmengine's file backends) and sets ``img``, ``img_shape`` and
    ``ori_shape``. The format is told by the content (the DICOM magic) or a
    ``.dcm`` suffix. See the module docstring for how each format becomes
    8-bit grey. When a DICOM header says the image is not a frontal chest
    radiograph (Modality, BodyPartExamined, AnatomicRegionSequence,
    ViewPosition: :func:`not_chest_reasons`) a warning naming the file is
    logged and kept in ``img_warnings``, and the reasons in
    ``not_chest_reasons`` (the inferencers refuse such images by default).

    Required keys: ``img_path``. Added keys: ``img`` (H, W, 3) uint8 (or
    (H, W) with ``color_type='grayscale'``; float32 with ``to_float32``),
    ``img_shape``, ``ori_shape`` ((H, W)), ``img_warnings`` (list of str),
    ``not_chest_reasons`` (list of str, without the file name).

    Args:
        min_size (int): Refuse images whose shorter side is below this many
            pixels. Defaults to 32.
        to_float32 (bool): Return float32 pixels. Defaults to False.
        color_type (str): ``'color'`` (3 equal channels) or ``'grayscale'``.
            Defaults to 'color'.
        backend_args (dict, optional): mmengine file backend arguments.

    Raises:
        ImageDecodeError: The file is missing, empty, truncated, not an image,
            an unsupported DICOM or too small; the message names the file.
    """

    def __init__(self,
                 min_size: int = 32,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 backend_args: Optional[dict] = None) -> None:
        if color_type not in ('color', 'grayscale'):
            raise ValueError(f'LoadXrayImageFromFile: color_type must be '
                             f'"color" or "grayscale", got {color_type!r}')
        self.min_size = min_size
        self.to_float32 = to_float32
        self.color_type = color_type
        self.backend_args = backend_args

    def _read_bytes(self, path: str) -> bytes:
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise ImageDecodeError(f'{path}: image file not found') from err
        except OSError as err:
            raise ImageDecodeError(f'{path}: cannot read the file '
                                   f'({err})') from err
        if not data:
            raise ImageDecodeError(f'{path}: image file is empty (0 bytes)')
        return data

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        data = self._read_bytes(path)
        warnings: List[str] = []
        reasons: List[str] = []
        if is_dicom(path, data):
            img, reasons = read_dicom(path, data)
            if reasons:
                warnings.append(
                    f'{path}: the DICOM header says this is not a frontal '
                    f'chest radiograph ({"; ".join(reasons)}); crrg\'s '
                    'models describe frontal chest X-rays only')
                print_log(warnings[-1], 'current', logging.WARNING)
        else:
            img = read_raster(path, data)
        height, width = img.shape[:2]
        if min(height, width) < self.min_size:
            raise ImageDecodeError(
                f'{path}: image is {width}x{height} pixels, below the minimum '
                f'side of {self.min_size} (min_size); not a usable radiograph')
        if self.color_type == 'color':
            img = np.repeat(img[..., None], 3, axis=2)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        results['img_warnings'] = warnings
        results['not_chest_reasons'] = reasons
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, '
                f'to_float32={self.to_float32}, '
                f'color_type={self.color_type!r}, '
                f'backend_args={self.backend_args})')

