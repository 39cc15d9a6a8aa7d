"""Agreement of a CheXpert labeler with the human MeSH tags of IU X-ray.

The original IU X-ray (Open-I) reports carry MeSH terms assigned by people
(``<MeSH><major>``, e.g. ``Cardiomegaly/mild``, ``Opacity/lung/base/left``,
``normal``). Ten CheXpert conditions map onto them; a report has the tag when
one of its major terms starts with a listed heading. The labeler reads
FINDINGS + IMPRESSION and a condition counts as found when its label is
positive (or uncertain, with ``uncertain='positive'``).
"""
from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from .rule_based import CHEXPERT_CONDITIONS, POSITIVE, UNCERTAIN

#: evaluated condition -> (CheXpert labels any of which counts, MeSH headings)
MESH_CONDITIONS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    'Cardiomegaly': (('Cardiomegaly', ), ('Cardiomegaly', )),
    'Pleural Effusion': (('Pleural Effusion', ), ('Pleural Effusion', )),
    'Atelectasis': (('Atelectasis', ), ('Pulmonary Atelectasis', )),
    'Edema': (('Edema', ), ('Pulmonary Edema', )),
    'Consolidation / Pneumonia': (('Consolidation', 'Pneumonia'),
                                  ('Consolidation', 'Pneumonia')),
    'Pneumothorax': (('Pneumothorax', ), ('Pneumothorax', )),
    'Lung Opacity': (('Lung Opacity', ), ('Opacity', )),
    'Lung Lesion': (('Lung Lesion', ), ('Nodule', 'Mass')),
    'Fracture': (('Fracture', ), ('Fractures, Bone', )),
    'No Finding': (('No Finding', ), ('normal', )),
}


def mesh_headings(terms: Sequence[str]) -> set:
    """Headings of MeSH terms: ``'Opacity/lung/base'`` -> ``'Opacity'``."""
    return {t.split('/')[0].strip() for t in terms}


def mesh_agreement(reports: Sequence[dict],
                   labeler: Callable,
                   uncertain: str = 'positive') -> Dict[str, Dict[str, float]]:
    """Per-condition precision / recall / F1 of labels against MeSH tags.

    Args:
        reports (Sequence[dict]): :func:`crrg.datasets.iu_xray.
            read_openi_reports` entries (``findings``, ``impression``,
            ``mesh_major``).
        labeler (callable): ``texts -> (N, 14)`` CheXbert-coded labels.
        uncertain (str): ``'positive'`` or ``'negative'``.

    Returns:
        dict: condition -> ``{'tagged', 'labelled', 'precision', 'recall',
        'f1'}`` (counts and fractions).
    """
    texts = [f'{r["findings"]} {r["impression"]}'.strip() for r in reports]
    labels = np.asarray(labeler(texts))
    found = labels == POSITIVE
    if uncertain == 'positive':
        found |= labels == UNCERTAIN
    headings = [mesh_headings(r['mesh_major']) for r in reports]
    table = {}
    for name, (conditions, mesh) in MESH_CONDITIONS.items():
        columns = [CHEXPERT_CONDITIONS.index(c) for c in conditions]
        pred = found[:, columns].any(1)
        gt = np.array([bool(h & set(mesh)) for h in headings])
        tp, fp, fn = (int((pred & gt).sum()), int((pred & ~gt).sum()),
                      int((~pred & gt).sum()))
        table[name] = dict(
            tagged=int(gt.sum()),
            labelled=int(pred.sum()),
            precision=tp / (tp + fp) if tp + fp else 0.0,
            recall=tp / (tp + fn) if tp + fn else 0.0,
            f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return table
