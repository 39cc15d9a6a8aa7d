"""LoadResizedImage: an image decoded straight at the size ``Resize`` would
give it (JPEG draft decoding), with an optional cache of the resized pixels."""
import hashlib
import io
import logging
import os
import os.path as osp
import stat
import struct
import tempfile
import zlib
from typing import Optional, Tuple

import cv2
import mmcv
import numpy as np
from mmdet.datasets.transforms import Resize
from mmengine.logging import print_log
from PIL import ExifTags, Image

from crrg.registry import TRANSFORMS
from crrg.utils.errors import ImageDecodeError

EIGHT_BIT_MODES = ('L', 'LA', 'P', 'RGB', 'RGBA', 'YCbCr', 'CMYK')
#: EXIF Orientation -> the transposition that shows the image upright (as
#: ``PIL.ImageOps.exif_transpose``)
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: bumped whenever the cached pixels of one key would change
CACHE_VERSION = 1
#: appended after the ``.npy`` data: magic, original width and height, and
#: :func:`cache_checksum` (``np.load`` reads the array and ignores it)
CACHE_TRAILER = struct.Struct('<4sIII')
CACHE_MAGIC = b'CRRG'


def cache_checksum(pixels: np.ndarray, width: int, height: int) -> int:
    """CRC-32 of a cache entry's pixel bytes and original size."""
    return zlib.crc32(struct.pack('<II', width, height), zlib.crc32(pixels))


class ImageNotFoundError(ImageDecodeError, FileNotFoundError):
    """The image file does not exist.

    Both a ``FileNotFoundError`` and an
    :class:`~crrg.utils.errors.ImageDecodeError`, so that datasets with
    ``skip_invalid=True`` skip and count it as they do for the X-ray loader.
    """


@TRANSFORMS.register_module()
class LoadResizedImage(Resize):
    """Load an image straight at the size ``Resize`` would give it.

    ``LoadImageFromFile`` + ``Resize`` in one step: a MIMIC-CXR-JPG image is
    about 2,500 x 3,000 pixels and the model sees 512. A JPEG can be decoded
    at 1/2, 1/4 or 1/8 of its size by scaling its DCT blocks (PIL
    ``Image.draft``, libjpeg-turbo's scale factors), which skips the inverse
    DCT and colour work of the skipped pixels. This transform decodes at the
    smallest such size that is still at least the target size, then resizes
    to exactly the size that ``Resize(scale, keep_ratio)`` computes from the
    ORIGINAL size. So ``img_shape``, ``scale_factor`` (relative to the
    original image) and the boxes are those of the full-decode path; only the
    pixels differ by the decoder's rounding. Other 8-bit formats (PNG, ...)
    are decoded at full size; 16-bit images are refused (the X-ray loader
    keeps their depth). An EXIF orientation is applied (as the X-ray loader
    and mmcv's loader do): sizes and boxes are those of the upright image.

    The entropy (Huffman) decoding of the whole file cannot be skipped at any
    DCT scale; it dominates for quality-95 radiographs (MIMIC-CXR-JPG's are
    ~1.5 MB), so the reduced decode alone is only ~1.5-2x faster than a full
    decode + resize. Every epoch decodes every image again; with
    ``cache_dir`` the first epoch also stores each decoded, resized image as
    an uncompressed ``.npy`` file and later epochs read that instead (the
    usual "resize the dataset once", without a second copy of the dataset
    to keep in sync by hand).

    The cache: one file per image and setting, named by a SHA-1 of the
    source's absolute path, size and modification time (``st_mtime_ns``),
    the target ``scale``, ``keep_ratio``, ``color_type``, ``interpolation``
    and ``backend``; so a rewritten source or another scale never reuses an
    entry (entries it makes stale stay on disk until ``cache_dir`` is
    deleted; a source rewritten with the same size within the file system's
    timestamp resolution is not noticed). Each file is a ``.npy`` of the
    pixels (``(h, w)`` uint8 for a grey source, ``(h, w, 3)`` BGR for a
    colour source read in colour) followed by the original size and a CRC-32
    of the pixels and that size. It is written to a temporary file in the
    same folder and renamed over the entry (``os.replace``), so dataloader
    workers that meet the same image never see a partial entry. An entry
    that is truncated, fails its CRC or does not have the size the original
    size gives is logged as a warning, decoded again and rewritten, never
    used. Disk cost: ``h * w`` bytes per grey image plus 150 bytes, e.g. 427
    x 512 = 0.22 MB at ``scale=512``; MIMIC-CXR-JPG's 377,110 images take
    ~82 GB (its JPEGs: ~570 GB).

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
        cache_dir (str, optional): Folder of the decode-once cache (created
            when missing; may be shared by processes and runs). None decodes
            every time. Defaults to None.
        **kwargs: Other ``Resize`` arguments (``keep_ratio``,
            ``interpolation``, ``clip_object_border``, ...).

    Raises:
        ImageNotFoundError: The file does not exist (a
            ``FileNotFoundError``).
        ImageDecodeError: The file is empty, cannot be decoded or holds
            16-bit pixels (named in the message; a ``DataFormatError``).
        OSError: A cache entry cannot be written (the message names it).
    """

    def __init__(self,
                 scale,
                 color_type: str = 'color',
                 cache_dir: Optional[str] = None,
                 **kwargs) -> None:
        if color_type not in ('color', 'grayscale'):
            raise ValueError(f'LoadResizedImage: color_type must be "color" '
                             f'or "grayscale", got {color_type!r}')
        super().__init__(scale=scale, **kwargs)
        self.color_type = color_type
        self.cache_dir = cache_dir

    def target_size(self, width: int, height: int) -> tuple:
        """(w, h) that ``Resize`` gives an image of ``width`` x ``height``."""
        if self.keep_ratio:
            return mmcv.rescale_size((width, height), self.scale)
        return self.scale

    def decode(self, path: str) -> Tuple[np.ndarray, int, int]:
        """Decode ``path`` at the target size.

        Returns:
            tuple: ``(pixels, width, height)``: (h, w) uint8 for a grey
            source or ``color_type='grayscale'``, else (h, w, 3) uint8 BGR;
            and the original size in pixels.
        """
        try:
            with Image.open(path) as pil:
                width, height = pil.size
                if pil.mode not in EIGHT_BIT_MODES:
                    raise ImageDecodeError(
                        f'{path}: {pil.mode} pixels (e.g. a 16-bit PNG); '
                        'LoadResizedImage reads 8-bit images, use the X-ray '
                        'loader (LoadXrayImageFromFile) for this file.')
                # EXIF orientation, applied as the X-ray loader and cv2 do
                transpose = EXIF_TRANSPOSE.get(pil.getexif().get(
                    ExifTags.Base.Orientation))
                turned = transpose in (Image.Transpose.TRANSPOSE,
                                       Image.Transpose.ROTATE_270,
                                       Image.Transpose.TRANSVERSE,
                                       Image.Transpose.ROTATE_90)
                if turned:
                    width, height = height, width
                target = self.target_size(width, height)
                gray = pil.mode in ('L', 'LA') or \
                    self.color_type == 'grayscale'
                mode = 'L' if gray else 'RGB'
                # ``draft`` keeps the decoded size >= the requested one; a
                # JPEG in the requested mode needs no ``convert`` (a copy)
                pil.draft(mode, target[::-1] if turned else target)
                if pil.mode != mode:
                    pil = pil.convert(mode)
                if transpose is not None:
                    pil = pil.transpose(transpose)
                img = np.asarray(pil)
        except (OSError, ValueError, SyntaxError,
                Image.DecompressionBombError) as err:
            if isinstance(err, ImageDecodeError):
                raise
            raise ImageDecodeError(
                f'{path}: cannot decode the image ({type(err).__name__}: '
                f'{err}); check that the file is a complete JPEG/PNG.'
            ) from err
        if img.shape[1::-1] != tuple(target):
            img = mmcv.imresize(img, target, interpolation=self.interpolation,
                                backend=self.backend)
        elif not img.flags.writeable:  # Pillow's buffer
            img = img.copy()
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        return img, width, height

    def cache_path(self, path: str, st: os.stat_result) -> str:
        """The cache entry of ``path`` (whose ``os.stat`` is ``st``)."""
        key = repr((CACHE_VERSION, osp.abspath(path), st.st_size,
                    st.st_mtime_ns, self.scale, self.keep_ratio,
                    self.color_type, self.interpolation, self.backend))
        digest = hashlib.sha1(key.encode()).hexdigest()
        # 256 sub-folders keep each folder small for 377,110 images
        return osp.join(self.cache_dir, digest[:2], digest + '.npy')

    def read_cache(self, entry: str,
                   path: str) -> Optional[Tuple[np.ndarray, int, int]]:
        """The cached ``(pixels, width, height)``, or None to decode.

        None when the entry does not exist, and (with a warning naming the
        entry) when it is damaged; see the class docstring.
        """
        try:
            with open(entry, 'rb') as f:
                data = bytearray(os.fstat(f.fileno()).st_size)
                size = f.readinto(data)
        except FileNotFoundError:
            return None
        try:
            stream = io.BytesIO(data)
            version = np.lib.format.read_magic(stream)
            if version != (1, 0):
                raise ValueError(f'.npy format {version}, not 1.0')
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                stream)
            offset = stream.tell()
            nbytes = int(np.prod(shape))
            if dtype != np.uint8 or fortran or len(shape) not in (2, 3) \
                    or shape[2:] not in ((), (3, )):
                raise ValueError(f'holds {dtype} {shape}, not uint8 pixels')
            if size != offset + nbytes + CACHE_TRAILER.size:
                raise ValueError(f'{size} bytes instead of '
                                 f'{offset + nbytes + CACHE_TRAILER.size}')
            magic, width, height, crc = CACHE_TRAILER.unpack_from(
                data, offset + nbytes)
            pixels = np.frombuffer(data, np.uint8, nbytes,
                                   offset).reshape(shape)
            if magic != CACHE_MAGIC or \
                    cache_checksum(pixels, width, height) != crc:
                raise ValueError('bad trailer or CRC-32')
            if tuple(shape[1::-1]) != tuple(self.target_size(width, height)):
                raise ValueError(f'{shape[1]}x{shape[0]} pixels, not the '
                                 f'target size of {width}x{height}')
        except (ValueError, struct.error, EOFError,
                ZeroDivisionError) as err:
            print_log(
                f'{entry}: damaged decode-cache entry of {path} ({err}); '
                'decoding the image again and rewriting the entry',
                logger='current', level=logging.WARNING)
            return None
        return pixels, width, height

    def write_cache(self, entry: str, pixels: np.ndarray, width: int,
                    height: int) -> None:
        """Write an entry atomically (temporary file + ``os.replace``)."""
        folder = osp.dirname(entry)
        pixels = np.ascontiguousarray(pixels)
        tmp = None
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                                       suffix='.npy')
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, 'wb') as f:
                np.lib.format.write_array(f, pixels, version=(1, 0),
                                          allow_pickle=False)
                f.write(CACHE_TRAILER.pack(
                    CACHE_MAGIC, width, height,
                    cache_checksum(pixels, width, height)))
            os.replace(tmp, entry)
            tmp = None
        except OSError as err:
            raise OSError(
                f'{entry}: cannot write the decode cache ({err}); free disk '
                'space, fix the permissions of cache_dir or set '
                'cache_dir=None') from err
        finally:
            if tmp is not None and osp.exists(tmp):
                os.remove(tmp)

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        try:
            st = os.stat(path)
        except FileNotFoundError as err:
            raise ImageNotFoundError(f'{path}: image file not found') from err
        if not stat.S_ISREG(st.st_mode):
            raise ImageNotFoundError(f'{path}: image file not found (not a '
                                     'regular file)')
        if st.st_size == 0:
            raise ImageDecodeError(f'{path}: image file is empty (0 bytes)')
        cached = entry = None
        if self.cache_dir is not None:
            entry = self.cache_path(path, st)
            cached = self.read_cache(entry, path)
        if cached is None:
            cached = self.decode(path)
            if entry is not None:
                self.write_cache(entry, *cached)
        img, width, height = cached
        if self.color_type == 'color' and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        target = self.target_size(width, height)
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

    def resize_decoded(self, results: dict) -> dict:
        """Bring an image that is already decoded at its full size to the
        size this transform decodes at: plain ``Resize`` of
        ``results['img']`` (e.g. an array given to an inferencer), setting
        ``img_shape``, ``scale_factor`` and ``keep_ratio`` as
        :meth:`transform` does.

        Args:
            results (dict): With ``img`` (H, W[, 3]) and ``ori_shape``.

        Returns:
            dict: ``results``, resized.
        """
        return super().transform(results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'keep_ratio={self.keep_ratio}, '
                f'color_type={self.color_type!r}, '
                f'cache_dir={self.cache_dir!r})')
