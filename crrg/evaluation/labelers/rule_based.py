"""A weight-free, rule-based labeler of the 14 CheXpert conditions.

It works in the manner of the CheXpert labeler (Irvin et al., 2019;
stanfordmlgroup/chexpert-labeler) and NegEx (Chapman et al., 2001), with
crrg's own phrase lists and rules and without a parser:

1. **Mentions.** Each condition has mention phrases (word-start anchored
   regular expressions, e.g. ``atelecta`` matches *atelectasis* and
   *atelectatic*) and *unmention* phrases that cancel an overlapping mention
   (*pericardial effusion* is no pleural effusion, *massive* is no mass,
   *calcified nodule* no lung lesion, *projects over the heart* no
   cardiomegaly). A list of other findings (granuloma, scoliosis,
   degenerative change ...) only serves *No Finding*.
2. **Classification of each mention**, in the CheXpert labeler's order:
   pre-negation uncertainty (*cannot exclude X*, *X is not excluded*, *no new
   X*) makes it uncertain; otherwise a negation (*no X*, *without X*, *free
   of X*, *X is normal / within normal limits / not enlarged / has
   resolved*, *normal X*) makes it negative; otherwise an uncertainty cue
   (*possible*, *may*, *suspicious for*, *X or Y*, *versus*, *borderline*,
   *obscured*, a stable heart size ...) makes it uncertain; otherwise it is
   positive. Where the CheXpert labeler follows dependency edges, cues here
   reach over word windows inside a clause; clauses end at sentence ends,
   ``;``, ``:`` and words such as *but*, *however*, *although*, *which*.
   Pseudo-negations (*no change in X*, *no interval increase*) are ignored.
3. **Aggregation per report**, as the CheXpert labeler does: a condition
   with both negative and uncertain mentions is uncertain; negative and
   positive, or uncertain and positive, give positive. *No Finding* is
   positive when no condition other than Support Devices (nor any other
   finding) has a positive or uncertain mention, blank otherwise. A positive
   or uncertain *CHF* / *heart failure* also adds an uncertain Cardiomegaly.

Labels use CheXbert's coding (:data:`BLANK` 0, :data:`POSITIVE` 1,
:data:`NEGATIVE` 2, :data:`UNCERTAIN` 3) over :data:`CHEXPERT_CONDITIONS`
in CheXbert's order, so rule labels and CheXbert labels feed the same
clinical-efficacy scores. This labeler is a proxy for CheXbert: its
agreement with human MeSH tags of real reports is measured in
``docs/results.md``.
"""
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from crrg.registry import TASK_UTILS

#: The 14 conditions in CheXbert's order (``src/constants.py``).
CHEXPERT_CONDITIONS = ('Enlarged Cardiomediastinum', 'Cardiomegaly',
                       'Lung Opacity', 'Lung Lesion', 'Edema',
                       'Consolidation', 'Pneumonia', 'Atelectasis',
                       'Pneumothorax', 'Pleural Effusion', 'Pleural Other',
                       'Fracture', 'Support Devices', 'No Finding')
#: The 5 conditions of "CE micro-5" (Miura et al.; RGRG).
CE5_CONDITIONS = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                  'Pleural Effusion')

BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3

_POSITIONAL = [
    f'{a}{b}' for a in ('over the', 'overlying the', 'overly the', 'in the',
                        'projecting over the', 'projects over the',
                        'projected over the', 'behind the')
    for b in ('', ' superior', ' left', ' right')
]
_HEART = ['the heart', r'heart size', 'cardiac enlargement', 'cardiac size',
          'cardiac shadow', 'cardiac contour', 'cardiac silhouette',
          'enlarged heart', r'heart(?! failure)\b']
_CARDIOMEDIASTINUM = [
    'mediastinum', 'cardiomediastinum', 'contour', 'mediastinal configuration',
    'mediastinal silhouette', 'mediastinal contour',
    'cardiomediastinal (?:silhouette|contour|size|shadow|structures)',
    'pericardial silhouette', 'cardiac silhouette and vascularity',
    'mediastinal widening', 'widened mediastinum', 'wide mediastinum'
]

#: condition -> mention patterns (regular expressions, word-start anchored)
MENTIONS: Dict[str, List[str]] = {
    'Enlarged Cardiomediastinum': _CARDIOMEDIASTINUM,
    'Cardiomegaly': ['cardiomegaly'] + _HEART,
    'Lung Opacity': [
        'opaci', 'decreased translucency', 'increased density',
        'air ?-?space disease', 'air ?-?space opaci', 'infiltrat',
        'interstitial marking', 'interstitial pattern', 'interstitial lung',
        'reticular pattern', 'reticular marking', 'reticulation',
        'parenchymal scar', 'peribronchial thickening', 'wall thickening',
        'scar'
    ],
    'Lung Lesion': [
        'mass', 'nodular densit', 'nodular opaci', 'nodule', 'lump',
        'cavitary lesion', 'carcinoma', 'neoplasm', 'tumor', 'tumour',
        'lung lesion', 'pulmonary lesion'
    ],
    'Edema': [
        'edema', 'oedema', 'heart failure', 'chf', 'vascular congestion',
        'pulmonary congestion', 'indistinctness', 'vascular prominence'
    ],
    'Consolidation': ['consolidat'],
    'Pneumonia': ['pneumonia', 'infection', 'infectious', 'pneumonitis'],
    'Atelectasis': ['atelecta', 'collapse'],
    'Pneumothorax': ['pneumothora'],
    'Pleural Effusion': ['pleural fluid', 'effusion'],
    'Pleural Other': [
        'pleural thickening', 'fibrosis', 'fibrothorax', 'pleural scar',
        'pleural-parenchymal scar', 'pleuroparenchymal scar',
        'pleuro-parenchymal scar', 'pleuro-pericardial scar',
        'pleural plaque'
    ],
    'Fracture': ['fracture'],
    'Support Devices': [
        'pacer', 'line', 'lines', 'picc', 'tube', 'valve', 'catheter',
        'pacemaker', 'hardware', 'arthroplast', 'marker', 'icd', 'defib',
        'device', 'drain', 'plate', 'screw', 'cannula', 'apparatus', 'coil',
        'support', 'equipment', 'mediport', 'port', 'stent', 'clip',
        'sternotomy wire', 'wires', 'prosthe'
    ],
}

#: condition -> unmention patterns; a mention overlapping one is dropped
UNMENTIONS: Dict[str, List[str]] = {
    'Cardiomegaly': [f'{p} {h.replace("the ", "")}' for p in _POSITIONAL
                     for h in ('heart', 'cardiac silhouette',
                               'cardiac shadow', 'cardiac contour')] +
    ['heart failure'],
    'Enlarged Cardiomediastinum': [f'{p} {m}' for p in _POSITIONAL
                                   for m in ('mediastinum',
                                             'cardiomediastinum')],
    'Lung Lesion': ['calcified nodul', 'massive', 'massengale',
                    'soft tissue mass'],
    'Lung Opacity': ['pleural scar', 'pleural-parenchymal scar',
                     'pleuroparenchymal scar', 'pleuro-parenchymal scar'],
    'Pleural Effusion': ['pericardial effusion', 'joint effusion'],
    'Support Devices': ['line of', 'lines of', 'pleural line', 'midline',
                        'skin line', 'fissure line', 'support of',
                        'supportive', 'tubercul'],
}

#: other findings: a positive or uncertain one rules out No Finding
OTHER_FINDINGS: List[str] = [
    'emphysema', 'blunt', 'density', 'densities', 'elevat', 'eventration',
    'scoliosis', 'degenera', 'calcifi', 'hyperinflat', 'hyperexpan',
    'bronchospasm', 'asthma', 'hernia', 'copd', 'interstitial marking',
    'plaque', 'osteophyt', 'spondyl', 'aortic disease', 'bronchiolitis',
    'airways disease', 'thickening', 'cephalization', 'aspiration', 'bulla',
    'contusion', 'atherosclero', 'tortuo', 'ectatic', 'osteopenia',
    'metasta', 'granuloma', 'pneumomediastinum', 'pneumoperitoneum',
    'osteodystrophy', 'cuffing', 'irregular lucency', 'inflam', 'fissure',
    'hypertension', 'prominen', 'kyphosis', 'kyphotic', 'deformit', 'bullet',
    'reticula', 'thoracentesis', 'bronchitis', 'volume loss', 'hemorrhage',
    'haemorrhage', 'hematoma', 'radiopaque', 'aerophagia', 'arthropathy',
    'tracheostomy', 'hyperlucen', 'lucency', 'cyst', 'pericardial effusion'
]

# ---- cues -------------------------------------------------------------------
_WORD = r'[a-z0-9]+(?:[-\'][a-z0-9]+)*'

#: pre-negation uncertainty; reaches both ways inside a clause
_PRE_NEG_UNCERTAIN = (r'(?:can ?not|could not|can\'t|may not|not) (?:be )?'
                      r'(?:entirely |completely |totally |definitely )?'
                      r'(?:exclude[ds]?|ruled? out)', r'difficult to exclude',
                      r'not (?:be )?(?:entirely )?ruled out',
                      r'no evidence to rule out', r'no new')
#: negation cues that reach forward: (pattern, window in words)
_NEG_FORWARD = (
    (r'no', 12), (r'not', 8), (r'without', 12), (r'negative for', 12),
    (r'free of', 12), (r'absence of', 12), (r'absent', 4),
    (r'resolution of', 8), (r'resolved', 4), (r'clear(?:ing)? of', 8),
    (r'removal of', 6), (r'history of', 6), (r'rule[ds]? out', 8),
    (r'to exclude', 8), (r'exclude[ds]?', 6), (r'no longer', 8),
    (r'normal', 6), (r'unremarkable', 6),
    (r'within (?:the )?normal limits', 8), (r'resolving', 3),
    (r'cleared', 4), (r'disappearance of', 6))
#: negation cues after a mention: (pattern, largest gap in words)
_NEG_BACKWARD = (
    (r'(?:is |are |appears? |remains? |seems? |looks? |was |were )?'
     r'(?:now |otherwise |again |still )?(?:normal|unremarkable)', 6),
    (r'(?:is |are |appears? |remains? )?(?:within|at|upper) (?:the )?'
     r'(?:upper )?(?:limits?|range) of normal', 6),
    (r'within normal limits', 8),
    (r'top normal', 3),
    (r'normal in (?:size|caliber|contour)', 6),
    (r'(?:is|are|was|were|has|have) (?:been )?(?:not|no longer) '
     r'(?:[a-z]+ly )?(?:enlarged|seen|identified|present|visualized|'
     r'demonstrated|appreciated|noted|evident|visible)', 6),
    (r'not enlarged', 4),
    (r'(?:has|have) (?:since )?(?:resolved|cleared)', 6),
    (r'resolved', 4),
    (r'removed', 4),
    (r'no longer (?:seen|visualized|present|evident)', 6),
    (r'(?:is|are) absent', 4),
    (r'(?:is|are) excluded', 4),
    (r'negative', 3))
#: uncertainty cues (post-negation): (pattern, window both ways in words)
_UNCERTAIN = (
    (r'possible', 6), (r'possibly', 6), (r'probable', 6), (r'probably', 6),
    (r'questionabl[ey]', 6), (r'question of', 6), (r'suspect(?:ed|s)?', 6),
    (r'suspicious', 6), (r'suspicion', 6), (r'suggestion of', 6),
    (r'suggest(?:s|ive|ing)?', 6), (r'concern(?:ing)? for', 6),
    (r'worrisome', 6), (r'may', 6), (r'might', 6), (r'could', 6),
    (r'would', 6), (r'differential', 8), (r'versus', 4), (r'vs', 4),
    (r'or', 3), (r'consider(?:ed)?', 6), (r'favou?re?d?', 6),
    (r'less likely', 6), (r'borderline', 4), (r'equivocal', 6),
    (r'indeterminate', 6), (r'cannot be (?:evaluated|assessed)', 6),
    (r'(?:poorly|incompletely|not well|not clearly) (?:evaluated|'
     r'visualized|seen|assessed)', 6), (r'obscur\w*', 6), (r'\?', 4),
    (r'may represent', 6), (r'presum\w*', 6), (r'cannot be excluded', 8))
#: heart-size mentions that a stable/unchanged cue makes uncertain
_STABLE_TARGETS = r'(?:cardiomediastin|mediastin|pericardial|contour|configur'\
    r'|silhouette|size|heart|shadow|cardiac)'
_STABLE = r'(?:stable|unchanged|similar|not (?:significantly )?changed|' \
    r'no (?:significant )?(?:interval )?change)'
#: edema mentions that are uncertain unless negated (CheXpert's rule)
_ALWAYS_UNCERTAIN = re.compile(
    r'vascular congestion|pulmonary congestion|indistinctness|'
    r'vascular prominence')
#: look like negations but are not
_PSEUDO_NEGATION = re.compile(
    r'\b(?:no|without|not) (?:significant |definite |appreciable |'
    r'substantial |major )?(?:interval )?(?:change|increase|decrease|'
    r'progression|worsening|improvement|enlargement)\b|\bnot only\b|'
    r'\bnot significantly changed\b|\bgram negative\b|'
    r'\bno (?:definite )?(?:new|other)\b')
_CLAUSE_BREAK = re.compile(
    r'[;:]|\b(?:but|however|although|though|except|aside from|apart from|'
    r'other than|whereas|which|while|yet|and (?:the|there))\b')
_SENTENCE_BREAK = re.compile(r'(?<=[.!?])\s+|\n+')


def _compile(patterns: Sequence[str]) -> re.Pattern:
    ordered = sorted(patterns, key=len, reverse=True)  # longest first
    return re.compile(r'\b(?:' + '|'.join(ordered) + ')')


_MENTION_RE = {c: _compile(p) for c, p in MENTIONS.items()}
_UNMENTION_RE = {c: _compile(p) for c, p in UNMENTIONS.items()}
_OTHER_RE = _compile(OTHER_FINDINGS)
_PRE_NEG_UNCERTAIN_RE = re.compile(r'\b(?:' + '|'.join(_PRE_NEG_UNCERTAIN) +
                                   r')\b')
_NEG_FORWARD_RE = [(re.compile(rf'\b{p}\b'), w) for p, w in _NEG_FORWARD]
_NEG_BACKWARD_RE = [(re.compile(rf'\b{p}\b'), w) for p, w in _NEG_BACKWARD]
_UNCERTAIN_RE = [(re.compile(rf'(?:\b|(?=\?)){p}(?:\b|(?<=\?))'), w)
                 for p, w in _UNCERTAIN]
_STABLE_RE = re.compile(rf'\b{_STABLE}\b')
_STABLE_TARGET_RE = re.compile(rf'\b{_STABLE_TARGETS}')


def preprocess(text: str) -> str:
    """Lower-case and normalise a report as the CheXpert labeler's loader.

    ``and/or`` becomes ``or``, ``x/y`` becomes ``x or y``, ``..`` becomes
    ``.``, a space follows every ``.`` and ``,``, and white space collapses.
    """
    text = text.lower().replace('and/or', 'or')
    text = re.sub(r'(?<=[a-z])/(?=[a-z])', ' or ', text)
    text = text.replace('..', '.')
    text = re.sub(r'([.,])(?=\S)', r'\1 ', text)
    return ' '.join(text.split())


def _words(text: str) -> int:
    return len(re.findall(_WORD, text))


def _clauses(sentence: str) -> List[str]:
    pieces, start = [], 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        pieces.append(sentence[start:m.start()])
        start = m.end()
    pieces.append(sentence[start:])
    return [p for p in pieces if p.strip()]


def _spans(pattern: re.Pattern, text: str) -> List[Tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _overlaps(span: Tuple[int, int], spans: Sequence[Tuple[int, int]]) -> bool:
    return any(span[0] < e and span[1] > s for s, e in spans)


def _classify(clause: str, start: int, end: int, pseudo) -> int:
    """POSITIVE, NEGATIVE or UNCERTAIN for the mention clause[start:end]."""
    before, after = clause[:start], clause[end:]
    for m in _PRE_NEG_UNCERTAIN_RE.finditer(clause):
        if m.end() <= start and _words(clause[m.end():start]) <= 10:
            return UNCERTAIN
        if m.start() >= end and _words(clause[end:m.start()]) <= 6 \
                and not m.group().startswith('no'):
            return UNCERTAIN
    for pattern, window in _NEG_FORWARD_RE:
        for m in pattern.finditer(before):
            if _overlaps(m.span(), pseudo):
                continue
            if _words(before[m.end():]) < window:
                return NEGATIVE
    for pattern, window in _NEG_BACKWARD_RE:
        m = pattern.search(after)
        if m and _words(after[:m.start()]) <= window \
                and not re.search(r'\b(?:with|without)\b', after[:m.start()]):
            return NEGATIVE
    for pattern, window in _UNCERTAIN_RE:
        for m in pattern.finditer(clause):
            if m.end() <= start and _words(clause[m.end():start]) < window:
                return UNCERTAIN
            if m.start() >= end and _words(clause[end:m.start()]) < window:
                return UNCERTAIN
    mention = clause[start:end]
    if _STABLE_TARGET_RE.search(mention) and (
            _STABLE_RE.search(after) and _words(
                after[:_STABLE_RE.search(after).start()]) <= 6
            or any(_words(before[m.end():]) <= 3
                   for m in _STABLE_RE.finditer(before))):
        return UNCERTAIN
    if _ALWAYS_UNCERTAIN.fullmatch(mention):
        return UNCERTAIN
    return POSITIVE


def _aggregate(labels: Sequence[int]) -> int:
    kinds = set(labels)
    if len(kinds) == 1:
        return labels[0]
    if NEGATIVE in kinds and UNCERTAIN in kinds:
        return UNCERTAIN
    return POSITIVE


def label_mentions(report: str) -> List[Tuple[str, str, int]]:
    """Every mention in a report with its classification.

    Args:
        report (str): Free text (any sections the caller chose).

    Returns:
        list[tuple[str, str, int]]: ``(condition, mention text, label)``;
        condition ``'Other Finding'`` for the findings that only rule out
        No Finding; label is POSITIVE, NEGATIVE or UNCERTAIN.
    """
    text = preprocess(report)
    mentions = []
    for sentence in _SENTENCE_BREAK.split(text):
        for clause in _clauses(sentence):
            pseudo = _spans(_PSEUDO_NEGATION, clause)
            targets = list(_MENTION_RE.items()) + [('Other Finding',
                                                    _OTHER_RE)]
            for condition, pattern in targets:
                unmention = _UNMENTION_RE.get(condition)
                unmentions = [] if unmention is None else _spans(
                    unmention, clause)
                for m in pattern.finditer(clause):
                    if _overlaps(m.span(), unmentions):
                        continue
                    mentions.append(
                        (condition, m.group(),
                         _classify(clause, m.start(), m.end(), pseudo)))
    return mentions


def label_report(report: str) -> np.ndarray:
    """CheXbert-coded labels of the 14 conditions for one report.

    Args:
        report (str): Free text.

    Returns:
        np.ndarray: (14,) int64 in :data:`CHEXPERT_CONDITIONS` order, each
        BLANK (0), POSITIVE (1), NEGATIVE (2) or UNCERTAIN (3); No Finding
        is POSITIVE or BLANK.
    """
    found: Dict[str, List[int]] = {}
    no_finding = True
    for condition, text, label in label_mentions(report):
        if condition != 'Support Devices' and label != NEGATIVE:
            no_finding = False
        if condition == 'Other Finding':
            continue
        found.setdefault(condition, []).append(label)
        if label != NEGATIVE and text in ('chf', 'heart failure'):
            found.setdefault('Cardiomegaly', []).append(UNCERTAIN)
    labels = np.full(len(CHEXPERT_CONDITIONS), BLANK, dtype=np.int64)
    for index, condition in enumerate(CHEXPERT_CONDITIONS[:-1]):
        if condition in found:
            labels[index] = _aggregate(found[condition])
    if no_finding:
        labels[-1] = POSITIVE
    return labels


def label_reports(reports: Sequence[str]) -> np.ndarray:
    """:func:`label_report` over many reports: (N, 14) int64."""
    if not reports:
        return np.zeros((0, len(CHEXPERT_CONDITIONS)), dtype=np.int64)
    return np.stack([label_report(r) for r in reports])


@TASK_UTILS.register_module()
class RuleBasedCheXpertLabeler:
    """:func:`label_reports` as a registered labeler (no weights)."""
    name = 'rules'

    def __call__(self, reports: Sequence[str]) -> np.ndarray:
        """CheXbert-coded labels, (N, 14) int64 (0/1/2/3)."""
        return label_reports(list(reports))
