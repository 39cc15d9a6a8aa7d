"""Labelers of the 14 CheXpert conditions behind the clinical-efficacy metric.

Each is a callable ``labeler(reports: Sequence[str]) -> np.ndarray`` of shape
(N, 14), CheXbert-coded, registered in crrg's ``TASK_UTILS``.
"""
from .chexbert import CheXbertLabeler
from .rule_based import (BLANK, CE5_CONDITIONS, CHEXPERT_CONDITIONS, NEGATIVE,
                         POSITIVE, UNCERTAIN, RuleBasedCheXpertLabeler)

__all__ = [
    'BLANK', 'CE5_CONDITIONS', 'CHEXPERT_CONDITIONS', 'NEGATIVE', 'POSITIVE',
    'UNCERTAIN', 'CheXbertLabeler', 'RuleBasedCheXpertLabeler'
]
