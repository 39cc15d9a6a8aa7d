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
A check on the pixels themselves (e.g. R-CLIP's zero-shot similarity to "a
chest radiograph") is one more callable in ``chest_checks``, after
:func:`dicom_header_check`.
"""
from typing import Callable, Optional

#: ``check(loaded) -> None | reason``; see the module docstring
ChestCheck = Callable[[dict], Optional[str]]


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


#: The checks an inferencer runs when ``chest_checks`` is not given
DEFAULT_CHEST_CHECKS = (dicom_header_check, )
