"""Clinical-efficacy (CE) scores from CheXpert-style labels of two reports.

Labels are CheXbert-coded (0 blank, 1 positive, 2 negative, 3 uncertain)
arrays of shape (N, 14) over
:data:`crrg.evaluation.labelers.CHEXPERT_CONDITIONS`, one row per report,
for the generated reports and their references.

The settings follow RGRG's ``compute_clinical_efficacy_scores``
(``src/full_model/evaluate_full_model/evaluate_language_model.py``):

- **micro / macro / per condition**: positive = label 1 *or* 3 (uncertain
  counted positive, as Miura et al. do), blank and negative are negative;
  precision/recall/F1 of the generated labels against the reference labels
  (scikit-learn ``precision_recall_fscore_support(average='binary')``,
  0 where undefined). Micro pools every (report, condition) pair of the
  5 conditions (:data:`CE5_CONDITIONS`) or of all 14; macro (not in RGRG)
  is the unweighted mean of the per-condition scores.
- **example-based** over 14: positive = label 1 only (uncertain counted
  negative, as Nicolson et al. do); precision/recall/F1 per report, 0 where
  undefined (no positive on the relevant side), then the mean over reports.

Every key names its settings: ``{precision,recall,f1}_{micro,macro}{5,14}``
or ``_example14``, then ``_unc-pos`` / ``_unc-neg`` for the mapping of
"uncertain", e.g. ``f1_micro5_unc-pos`` (RGRG's "CE micro-5 F1") and
``f1_example14_unc-neg``; per condition ``f1_<condition>_unc-pos`` with the
condition in snake case.
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from crrg.evaluation.labelers import (CE5_CONDITIONS, CHEXPERT_CONDITIONS,
                                      POSITIVE, UNCERTAIN,
                                      RuleBasedCheXpertLabeler)
from crrg.registry import METRICS, TASK_UTILS
from crrg.utils import check_choice

UNCERTAIN_MAPPINGS = ('positive', 'negative')


def binarize_labels(labels: np.ndarray, uncertain: str) -> np.ndarray:
    """Positive mask of CheXbert-coded labels.

    Args:
        labels (np.ndarray): (N, C) int labels, 0/1/2/3.
        uncertain (str): ``'positive'`` or ``'negative'``: where label 3
            goes.

    Returns:
        np.ndarray: (N, C) bool.
    """
    check_choice(uncertain, UNCERTAIN_MAPPINGS, 'uncertain')
    labels = np.asarray(labels)
    positive = labels == POSITIVE
    if uncertain == 'positive':
        positive |= labels == UNCERTAIN
    return positive


def _prf(tp: float, fp: float, fn: float) -> np.ndarray:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return np.array([precision, recall, f1])


def _tag(uncertain: str) -> str:
    return 'unc-pos' if uncertain == 'positive' else 'unc-neg'


def ce_scores(pred_labels: np.ndarray,
              ref_labels: np.ndarray,
              uncertain: str = 'positive',
              example_uncertain: str = 'negative',
              conditions: Sequence[str] = CHEXPERT_CONDITIONS
              ) -> Dict[str, float]:
    """CE precision/recall/F1: micro and macro over 5 and 14, example-based.

    Args:
        pred_labels (np.ndarray): (N, 14) labels of the generated reports.
        ref_labels (np.ndarray): (N, 14) labels of their references.
        uncertain (str): Mapping of "uncertain" for the micro, macro and
            per-condition scores. Defaults to 'positive' (RGRG, Miura).
        example_uncertain (str): Mapping for the example-based scores.
            Defaults to 'negative' (RGRG, Nicolson).
        conditions (Sequence[str]): Column names. Defaults to the 14
            CheXpert conditions in CheXbert's order.

    Returns:
        dict[str, float]: Fractions in [0, 1], keys as in the module
        docstring.
    """
    pred_labels = np.asarray(pred_labels)
    ref_labels = np.asarray(ref_labels)
    if pred_labels.shape != ref_labels.shape or pred_labels.ndim != 2 \
            or pred_labels.shape[1] != len(conditions):
        raise ValueError('ce_scores: expected two (N, '
                         f'{len(conditions)}) label arrays, got '
                         f'{pred_labels.shape} and {ref_labels.shape}')
    if len(pred_labels) == 0:
        raise ValueError('ce_scores: no reports to score')
    conditions = list(conditions)
    five = [conditions.index(c) for c in CE5_CONDITIONS]
    pred = binarize_labels(pred_labels, uncertain)
    ref = binarize_labels(ref_labels, uncertain)
    tp = (pred & ref).sum(0).astype(float)
    fp = (pred & ~ref).sum(0).astype(float)
    fn = (~pred & ref).sum(0).astype(float)
    per_condition = np.stack(
        [_prf(tp[c], fp[c], fn[c]) for c in range(len(conditions))])
    tag = _tag(uncertain)
    scores: Dict[str, float] = {}
    names = ('precision', 'recall', 'f1')
    for group, columns in (('5', five), ('14', list(range(len(conditions))))):
        micro = _prf(tp[columns].sum(), fp[columns].sum(), fn[columns].sum())
        macro = per_condition[columns].mean(0)
        for i, name in enumerate(names):
            scores[f'{name}_micro{group}_{tag}'] = float(micro[i])
            scores[f'{name}_macro{group}_{tag}'] = float(macro[i])
    for c, condition in enumerate(conditions):
        key = condition.lower().replace(' ', '_')
        scores[f'f1_{key}_{tag}'] = float(per_condition[c, 2])
    pred = binarize_labels(pred_labels, example_uncertain)
    ref = binarize_labels(ref_labels, example_uncertain)
    tp = (pred & ref).sum(1).astype(float)
    fp = (pred & ~ref).sum(1).astype(float)
    fn = (~pred & ref).sum(1).astype(float)
    example = np.stack([_prf(*row) for row in zip(tp, fp, fn)]).mean(0)
    tag = _tag(example_uncertain)
    for i, name in enumerate(names):
        scores[f'{name}_example14_{tag}'] = float(example[i])
    return scores


def build_labeler(labeler: Union[dict, Callable]) -> Callable:
    """A labeler from a config dict (crrg ``TASK_UTILS``) or as is."""
    if isinstance(labeler, dict):
        return TASK_UTILS.build(labeler)
    return labeler


def score_clinical_efficacy(predictions: Sequence[str],
                            references: Sequence[str],
                            labeler: Union[dict, Callable, None] = None,
                            uncertain: str = 'positive',
                            example_uncertain: str = 'negative'
                            ) -> Dict[str, float]:
    """Label both sides and compute :func:`ce_scores`.

    Args:
        predictions (Sequence[str]): Generated reports.
        references (Sequence[str]): Their references, same order.
        labeler (dict | callable, optional): Defaults to the rule-based
            labeler.
        uncertain (str): See :func:`ce_scores`.
        example_uncertain (str): See :func:`ce_scores`.

    Returns:
        dict[str, float]: :func:`ce_scores` keys.
    """
    labeler = RuleBasedCheXpertLabeler() if labeler is None else \
        build_labeler(labeler)
    return ce_scores(labeler(list(predictions)), labeler(list(references)),
                     uncertain, example_uncertain)


@METRICS.register_module()
class ClinicalEfficacyMetric(BaseMetric):
    """CE precision/recall/F1 of generated reports from CheXpert labels.

    The labeler labels the generated report and its reference; the scores
    are :func:`ce_scores` (RGRG's settings by default: micro / macro /
    per-condition with uncertain = positive, example-based with uncertain =
    negative). Keys are prefixed with the labeler's name, e.g.
    ``ce_rules/f1_micro5_unc-pos`` or ``ce_chexbert/f1_example14_unc-neg``,
    so every figure says its settings and its labeler.

    Args:
        labeler (dict): A ``TASK_UTILS`` config. Defaults to
            ``dict(type='RuleBasedCheXpertLabeler')`` (weight-free proxy);
            ``dict(type='CheXbertLabeler', checkpoint=..., tokenizer=...)``
            for CheXbert.
        uncertain (str): 'positive' or 'negative'. Defaults to 'positive'.
        example_uncertain (str): Defaults to 'negative'.
        pred_key (str): Defaults to 'pred_report'.
        gt_key (str): Defaults to 'gt_report'.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to ``'ce_' + labeler name``.
    """

    def __init__(self,
                 labeler: Optional[dict] = None,
                 uncertain: str = 'positive',
                 example_uncertain: str = 'negative',
                 pred_key: str = 'pred_report',
                 gt_key: str = 'gt_report',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        self.labeler = build_labeler(
            labeler or dict(type='RuleBasedCheXpertLabeler'))
        name = getattr(self.labeler, 'name', type(self.labeler).__name__)
        super().__init__(
            collect_device=collect_device, prefix=prefix or f'ce_{name}')
        for value in (uncertain, example_uncertain):
            check_choice(value, UNCERTAIN_MAPPINGS, 'uncertain mapping',
                         'ClinicalEfficacyMetric')
        self.uncertain = uncertain
        self.example_uncertain = example_uncertain
        self.pred_key = pred_key
        self.gt_key = gt_key

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in (self.pred_key, self.gt_key):
                if not isinstance(sample.get(key), str):
                    raise KeyError(
                        'ClinicalEfficacyMetric: data sample of '
                        f'{sample.get("img_path", sample.get("img_id"))} has '
                        f'no string field "{key}"')
            self.results.append((sample[self.pred_key], sample[self.gt_key]))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        scores = score_clinical_efficacy([r[0] for r in results],
                                         [r[1] for r in results],
                                         self.labeler, self.uncertain,
                                         self.example_uncertain)
        MMLogger.get_current_instance().info(
            f'{self.prefix} over {len(results)} reports: '
            f'F1 micro-5 ({_tag(self.uncertain)}) '
            f'{scores[f"f1_micro5_{_tag(self.uncertain)}"]:.3f}, '
            f'F1 example-14 ({_tag(self.example_uncertain)}) '
            f'{scores[f"f1_example14_{_tag(self.example_uncertain)}"]:.3f}')
        return scores
