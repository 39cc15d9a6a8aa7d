import os.path as osp

import mmcv
import numpy as np
from mmdet.datasets.transforms import Resize
from PIL import Image

from crrg.registry import TRANSFORMS
from crrg.utils.errors import DataFormatError

EIGHT_BIT_MODES = ('L', 'LA', 'P', 'RGB', 'RGBA', 'YCbCr', 'CMYK')


@TRANSFORMS.register_module()
class LoadResizedImage(Resize):
    """Load an image straight at the size ``Resize`` would give it.

    ``LoadImageFromFile`` + ``Resize`` in one step: a MIMIC-CXR-JPG image is
    about 2,500 x 3,000 pixels and the model sees 512. A JPEG can be decoded
    at 1/2, 1/4 or 1/8 of its size by scaling its DCT blocks (PIL
    ``Image.draft``, libjpeg-turbo's scale factors), which skips most of the
    decoding work. This transform decodes at the smallest such size that is
    still at least the target size, then resizes to exactly the size that
    ``Resize(scale, keep_ratio)`` computes from the ORIGINAL size. So
    ``img_shape``, ``scale_factor`` (relative to the original image) and the
    boxes are those of the full-decode path; only the pixels differ by the
    decoder's rounding. Other 8-bit formats (PNG, ...) are decoded at full
    size; 16-bit images are refused (the X-ray loader keeps their depth).

    Put it where ``Resize`` was and drop ``LoadImageFromFile``;
    ``LoadAnnotations`` needs no image and may come first, since boxes are
    rescaled here as ``Resize`` rescales them::

        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='LoadResizedImage', scale=(512, 512), keep_ratio=True),

    Required keys: ``img_path``. Added keys: ``img`` (H, W, 3) uint8 BGR (or
    (H, W) with ``color_type='grayscale'``), ``img_shape``, ``ori_shape``
    (full size), ``scale_factor``, ``keep_ratio``. Modified keys:
    ``gt_bboxes`` and the other ``Resize`` keys.

    Args:
        scale (int | tuple[int, int]): Target scale as in ``Resize``.
        color_type (str): ``'color'`` (3 channels) or ``'grayscale'``.
            Defaults to ``'color'``.
        **kwargs: Other ``Resize`` arguments (``keep_ratio``,
            ``interpolation``, ``clip_object_border``, ...).

    Raises:
        FileNotFoundError: The file does not exist.
        DataFormatError: The file cannot be decoded (named in the message).
    """

    def __init__(self, scale, color_type: str = 'color', **kwargs) -> None:
        if color_type not in ('color', 'grayscale'):
            raise ValueError(f'LoadResizedImage: color_type must be "color" '
                             f'or "grayscale", got {color_type!r}')
        super().__init__(scale=scale, **kwargs)
        self.color_type = color_type

    def target_size(self, width: int, height: int) -> tuple:
        """(w, h) that ``Resize`` gives an image of ``width`` x ``height``."""
        if self.keep_ratio:
            return mmcv.rescale_size((width, height), self.scale)
        return self.scale

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found')
        try:
            with Image.open(path) as pil:
                width, height = pil.size
                target = self.target_size(width, height)
                if pil.mode not in EIGHT_BIT_MODES:
                    raise DataFormatError(
                        f'{path}: {pil.mode} pixels (e.g. a 16-bit PNG); '
                        'LoadResizedImage reads 8-bit images, use the X-ray '
                        'loader (LoadXrayImageFromFile) for this file.')
                gray = pil.mode in ('L', 'LA') or \
                    self.color_type == 'grayscale'
                mode = 'L' if gray else 'RGB'
                # ``draft`` keeps the decoded size >= the requested one.
                pil.draft(mode, target)
                img = np.asarray(pil.convert(mode))
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise DataFormatError(
                f'{path}: cannot decode the image ({err}); check that the '
                'file is a complete JPEG/PNG.') from err
        img = mmcv.imresize(img, target, interpolation=self.interpolation,
                            backend=self.backend)
        if self.color_type == 'color':
            img = (np.repeat(img[..., None], 3, axis=2)
                   if img.ndim == 2 else np.ascontiguousarray(img[..., ::-1]))
        results['img'] = img
        results['ori_shape'] = (height, width)
        results['img_shape'] = img.shape[:2]
        results['scale'] = self.scale
        results['scale_factor'] = (target[0] / width, target[1] / height)
        results['keep_ratio'] = self.keep_ratio
        self._resize_bboxes(results)
        self._resize_masks(results)
        self._resize_seg(results)
        self._record_homography_matrix(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'keep_ratio={self.keep_ratio}, '
                f'color_type={self.color_type!r})')
