import os.path as osp

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from crrg.registry import TRANSFORMS


def read_dicom(path: str) -> np.ndarray:
    """A DICOM's pixels as uint8 (H, W), white = dense, min-max scaled.

    Applies RescaleSlope/RescaleIntercept when present and inverts
    MONOCHROME1 images (where low values are white).

    Raises:
        ValueError: The file has no pixel data; the message names it.
    """
    import pydicom
    ds = pydicom.dcmread(path)
    if 'PixelData' not in ds:
        raise ValueError(f'{path}: DICOM has no PixelData')
    pixels = ds.pixel_array.astype(np.float32)
    pixels = pixels * float(getattr(ds, 'RescaleSlope', 1)) + \
        float(getattr(ds, 'RescaleIntercept', 0))
    if getattr(ds, 'PhotometricInterpretation', '') == 'MONOCHROME1':
        pixels = pixels.max() - pixels
    low, high = float(pixels.min()), float(pixels.max())
    pixels = (pixels - low) / max(high - low, 1e-6) * 255
    return pixels.round().astype(np.uint8)


@TRANSFORMS.register_module()
class LoadDicomImage(BaseTransform):
    """Load a DICOM (``.dcm``) or a PNG/JPEG copy as a 3-channel uint8 image.

    Required keys: ``img_path``. Added keys: ``img`` (H, W, 3) uint8,
    ``img_shape``, ``ori_shape``.
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found')
        if path.lower().endswith('.dcm'):
            img = read_dicom(path)
        else:
            img = mmcv.imread(path, flag='grayscale')
            if img is None:
                raise ValueError(f'{path}: not a readable image')
        img = np.repeat(img[..., None], 3, axis=2)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
