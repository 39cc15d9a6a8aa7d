"""Whether an input is a frontal chest radiograph: the checks an inferencer
runs on each decoded image before the model sees it.

A check is a callable ``check(loaded) -> Optional[str]`` on the loader's
results for one input (:meth:`BaseXrayInferencer.load`: ``img`` as decoded,
``img_path`` (None for an array), ``ori_shape``, ``not_chest_reasons`` (what
a DICOM header says, see
:func:`crrg.datasets.transforms.loading.not_chest_reasons`), ...). It returns
None to let the image through, or the reason to refuse it: a sentence for the
user (no file path, no Python repr). An inferencer runs its ``chest_checks``
in order and refuses at the first reason; ``allow_non_chest=True`` runs none.

The default checks are :func:`dicom_header_check` (the header's Modality,
body part and view) and :class:`FrontalChestLayoutCheck` (the picture itself,
for the inputs whose header does not say "frontal chest": JPEG, PNG, arrays,
anonymised DICOM). Their error on the synthetic twins and on real images is
printed by ``benchmarks/chest_check.py`` and reported in
``docs/inference.md``.
"""
import os.path as osp
from typing import Callable, Dict, Optional

import cv2
import numpy as np
from scipy.stats import rankdata

from crrg.datasets.transforms.loading import (_CHEST_WORDS,
                                              RADIOGRAPH_MODALITIES, is_dicom)

#: ``check(loaded) -> None | reason``; see the module docstring
ChestCheck = Callable[[dict], Optional[str]]

_FRONTAL_VIEWS = ('PA', 'AP', 'AP SUPINE', 'PA LLD', 'AP LLD', 'AP AXIAL')


def dicom_header_check(loaded: dict) -> Optional[str]:
    """Refuse an image whose DICOM header says it is not a frontal chest
    radiograph (Modality, BodyPartExamined, AnatomicRegionSequence or a
    lateral ViewPosition, as the X-ray loader reads them).

    Images without a header (JPEG, PNG, arrays) and headers that say nothing
    pass.

    Args:
        loaded (dict): The loader's results; reads ``not_chest_reasons``.

    Returns:
        str | None: The reason, or None.
    """
    reasons = loaded.get('not_chest_reasons') or []
    if not reasons:
        return None
    return ('Not analysed: this is not a frontal chest radiograph (the DICOM '
            f'header says {"; ".join(reasons)}). The models describe frontal '
            'chest X-rays only.')


def header_says_frontal_chest(path: Optional[str]) -> bool:
    """Whether ``path`` is a DICOM file whose header says, positively, that
    it is a frontal chest radiograph: a radiograph Modality, a chest body
    part (BodyPartExamined or AnatomicRegionSequence) and a frontal
    ViewPosition. Only the header is read (no pixels)."""
    if not path or not osp.isfile(path):
        return False
    with open(path, 'rb') as f:
        if not is_dicom(path, f.read(132)):
            return False
    import pydicom
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - any unreadable header says nothing
        return False
    modality = str(ds.get('Modality', '') or '').upper()
    part = str(ds.get('BodyPartExamined', '') or '').upper()
    anatomy = ds.get('AnatomicRegionSequence')
    if anatomy:
        part += ' ' + str(anatomy[0].get('CodeMeaning', '') or '').upper()
    view = str(ds.get('ViewPosition', '') or '').strip().upper()
    return (modality in RADIOGRAPH_MODALITIES
            and any(w in part for w in _CHEST_WORDS)
            and view in _FRONTAL_VIEWS)


class FrontalChestLayoutCheck:
    """Refuse a picture that is not laid out as a frontal chest radiograph.

    A simple, explainable test of the image itself, for inputs whose DICOM
    header does not say "frontal chest" (:func:`header_says_frontal_chest`;
    those pass unchecked). The image is shrunk to ``size`` x ``size`` grey
    pixels (aspect ratio ignored) and two numbers are measured:

    - **mediastinal contrast**: with intensities scaled so that the 5th
      percentile is 0 and the 95th is 1, the mean of the central column
      (x in [0.45, 0.55] of the width) minus the brighter of the two lung
      windows (x in [0.15, 0.38] and [0.62, 0.85]), all over the rows
      y in [0.25, 0.65]. A frontal chest has a bright mediastinum and spine
      between two dark lungs: the contrast is clearly positive. A limb, a
      lateral view or a photograph has no such column.
    - **left-right symmetry**: Pearson's correlation of the rank-scaled
      image with its mirror image. A frontal chest is roughly symmetric; a
      lateral view, a photograph or a shoulder is not.

    The image passes when the contrast is at least ``min_contrast`` and the
    symmetry at least ``min_symmetry``. The default thresholds were set on
    the synthetic twins (MIMIC-CXR and IU X-ray, frontal and lateral views)
    and checked on real images (the pydicom-data chest and extremity
    radiographs and its other modalities); ``benchmarks/chest_check.py``
    prints the error table. It is a plausibility check, not a classifier
    trained on real data: it can pass a symmetric non-chest picture (e.g.
    an axial CT slice) and refuse an unusual chest film; a user can
    override it with ``allow_non_chest``.

    Args:
        size (int): Side of the shrunk image in pixels. Defaults to 48.
        min_contrast (float): Least mediastinal contrast. Defaults to 0.10.
        min_symmetry (float): Least left-right symmetry. Defaults to 0.60.
        trust_dicom_header (bool): Let a DICOM whose header says "frontal
            chest radiograph" through without looking at the picture.
            Defaults to True.
    """

    def __init__(self,
                 size: int = 48,
                 min_contrast: float = 0.10,
                 min_symmetry: float = 0.60,
                 trust_dicom_header: bool = True) -> None:
        self.size = size
        self.min_contrast = min_contrast
        self.min_symmetry = min_symmetry
        self.trust_dicom_header = trust_dicom_header

    def scores(self, image: np.ndarray) -> Dict[str, float]:
        """The two measurements of one image.

        Args:
            image (np.ndarray): (H, W) or (H, W, C) image of any depth.

        Returns:
            dict: ``contrast`` (mediastinal contrast, about -1..1) and
            ``symmetry`` (correlation, -1..1).
        """
        grey = np.asarray(image, dtype=np.float32)
        if grey.ndim == 3:
            grey = grey.mean(axis=2)
        n = self.size
        grey = cv2.resize(grey, (n, n), interpolation=cv2.INTER_AREA)
        low, high = np.percentile(grey, [5, 95])
        scaled = (grey - low) / max(float(high - low), 1e-6)
        rows = slice(int(0.25 * n), int(0.65 * n))

        def window(x1: float, x2: float) -> float:
            return float(scaled[rows, int(x1 * n):int(x2 * n)].mean())

        lungs = max(window(0.15, 0.38), window(0.62, 0.85))
        contrast = window(0.45, 0.55) - lungs
        # average ranks: equal intensities share one
        ranks = rankdata(grey.ravel()).astype(np.float32)
        mirrored = ranks.reshape(n, n)[:, ::-1].ravel()
        symmetry = 0.0 if ranks.std() == 0 else float(
            np.corrcoef(ranks, mirrored)[0, 1])
        return dict(contrast=contrast, symmetry=symmetry)

    def __call__(self, loaded: dict) -> Optional[str]:
        """The reason to refuse ``loaded`` (its ``img``), or None."""
        if self.trust_dicom_header and header_says_frontal_chest(
                loaded.get('img_path')):
            return None
        image = loaded.get('img')
        if image is None:
            return None
        scores = self.scores(image)
        failed = []
        if scores['contrast'] < self.min_contrast:
            failed.append('no bright mediastinum between two darker lung '
                          f'fields (contrast {scores["contrast"]:.2f} < '
                          f'{self.min_contrast:.2f})')
        if scores['symmetry'] < self.min_symmetry:
            failed.append('not left-right symmetric like a frontal view '
                          f'(symmetry {scores["symmetry"]:.2f} < '
                          f'{self.min_symmetry:.2f})')
        if not failed:
            return None
        return ('Not analysed: this picture does not look like a frontal '
                f'chest radiograph ({"; ".join(failed)}). The models '
                'describe frontal chest X-rays only; if it is one, analyse '
                'it anyway with the explicit option (allow_non_chest / '
                '--allow-non-chest).')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_contrast={self.min_contrast}, '
                f'min_symmetry={self.min_symmetry})')


#: The checks an inferencer runs when ``chest_checks`` is not given
DEFAULT_CHEST_CHECKS = (dicom_header_check, FrontalChestLayoutCheck())
