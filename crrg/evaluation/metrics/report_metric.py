"""Report-generation metrics, computed as published report-generation code does.

BLEU-1..4, METEOR, ROUGE-L and CIDEr are pycocoevalcap's scorers (the code
R2Gen, RGRG and CRRG-CLIP evaluate with), applied to reports cleaned by
:func:`crrg.structures.clean_report` (R2Gen's lower-casing,
punctuation-stripping cleaner; no PTB tokenisation). BLEU is the corpus-level
score pycocoevalcap reports; the others are means over reports.

CIDEr (pycocoevalcap's CIDEr-D) has two modes. By default the document
frequencies come from the references being scored (pycocoevalcap's
``Cider``: each study's references count once per n-gram). Given a
``cider_df_corpus`` (e.g. the validation or training references), they come
from that corpus instead, one document per report, as RGRG computes CIDEr
(``CustomCiderScorer``: pycocoevalcap's ``compute_cider`` with a fixed
document-frequency table; the log "reference length" stays the log of the
number of reports scored, as in RGRG's code).

TF-IDF similarity is the mean over reports of the cosine similarity between
the TF-IDF vectors of a generated report and of its reference, with
scikit-learn's ``TfidfVectorizer`` (default tokenisation: lower-case words of
two or more word characters; smooth idf; l2 norm) fitted on the references
only. A report whose vector is all zero (empty, or only words unseen in the
references) has similarity 0. With several references per report, the first
is used for TF-IDF.

An empty generated report is scored as it is (pycocoevalcap accepts it: it
gets 0 from each per-report metric and adds no length to corpus BLEU).
"""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from crrg.structures import clean_report, normalize_whitespace
from crrg.registry import METRICS

METRIC_KEYS = ('bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'meteor', 'rouge_l',
               'cider', 'tfidf')


def prepare_report(text: str, clean: Optional[str]) -> str:
    """Clean a report for scoring (``clean`` = dataset name or None)."""
    if clean is None:
        return normalize_whitespace(text)
    return clean_report(text, clean)


def tfidf_similarity(predictions: Sequence[str],
                     references: Sequence[str]) -> float:
    """Mean cosine similarity of paired reports' TF-IDF vectors.

    Args:
        predictions (Sequence[str]): Generated reports.
        references (Sequence[str]): Their references, same order; the
            vectoriser is fitted on these.

    Returns:
        float: Mean similarity in [0, 1]; 0 when the references have no
        vocabulary at all.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    vectorizer = TfidfVectorizer()
    try:
        ref_vectors = vectorizer.fit_transform(references)
    except ValueError:  # empty vocabulary
        return 0.0
    pred_vectors = vectorizer.transform(predictions)
    # rows are l2-normalised: the dot product is the cosine similarity
    sims = np.asarray(pred_vectors.multiply(ref_vectors).sum(axis=1)).ravel()
    return float(sims.mean())


def load_report_corpus(path: str) -> List[str]:
    """Reports of a CIDEr document-frequency corpus file.

    Args:
        path (str): JSON Lines with a ``"report"`` string per line (the
            format of ``tools/eval_reports.py``) or plain text, one report per
            line.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A JSONL line without a string ``"report"`` (file and line
            named), or no report at all.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: CIDEr document-frequency corpus '
                                'not found')
    reports = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            if path.endswith(('.jsonl', '.json')):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}:{number}: not valid JSON '
                                     f'({e.msg})') from e
                if not isinstance(record, dict) or not isinstance(
                        record.get('report'), str):
                    raise ValueError(f'{path}:{number}: expected an object '
                                     'with a string "report"')
                reports.append(record['report'])
            else:
                reports.append(line.rstrip('\n'))
    if not reports:
        raise ValueError(f'{path}: no report in the CIDEr corpus')
    return reports


def cider_document_frequency(corpus: Sequence[str],
                             clean: Optional[str] = 'mimic_cxr') -> dict:
    """n-gram (1..4) -> number of corpus reports containing it.

    Each report is one document, cleaned as the scored reports are.
    """
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    scorer = CiderScorer(n=4)
    for report in corpus:
        scorer.cook_append(None, [prepare_report(report, clean)])
    scorer.compute_doc_freq()
    return scorer.document_frequency


def cider_with_df(gts: Mapping[str, List[str]], res: Mapping[str, List[str]],
                  document_frequency: Mapping) -> float:
    """Mean CIDEr-D with a fixed document-frequency table (RGRG's mode)."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    scorer = CiderScorer(n=4, sigma=6.0)
    for key in gts:
        scorer += (res[key][0], gts[key])
    scorer.document_frequency = defaultdict(float, document_frequency)
    return float(np.mean(scorer.compute_cider()))


def score_reports(predictions: Mapping[str, str],
                  references: Mapping[str, Union[str, Sequence[str]]],
                  clean: Optional[str] = 'mimic_cxr',
                  cider_df_corpus: Optional[Sequence[str]] = None
                  ) -> Dict[str, float]:
    """Score generated reports against references.

    Args:
        predictions (Mapping[str, str]): Report id to generated report.
        references (Mapping[str, str | Sequence[str]]): Report id to one
            reference or a list of references; same ids as ``predictions``.
        clean (str, optional): ``'mimic_cxr'`` or ``'iu_xray'`` cleaning of
            both sides, or None to only normalise white space.
        cider_df_corpus (Sequence[str], optional): Reports whose document
            frequencies CIDEr uses (RGRG's mode); None for pycocoevalcap's
            corpus mode (the references scored).

    Returns:
        dict[str, float]: ``bleu_1`` ... ``bleu_4``, ``meteor``, ``rouge_l``,
        ``cider``, ``tfidf``.

    Raises:
        ValueError: The id sets differ, or there is nothing to score.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    if set(predictions) != set(references):
        missing = sorted(set(references) - set(predictions))[:5]
        extra = sorted(set(predictions) - set(references))[:5]
        raise ValueError('score_reports: predictions and references have '
                         f'different ids (missing e.g. {missing}, extra e.g. '
                         f'{extra})')
    if not predictions:
        raise ValueError('score_reports: no reports to score')
    ids = sorted(predictions, key=str)
    res = {i: [prepare_report(predictions[i], clean)] for i in ids}
    gts = {}
    for i in ids:
        refs = references[i]
        refs = [refs] if isinstance(refs, str) else list(refs)
        gts[i] = [prepare_report(r, clean) for r in refs]
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor_scorer = Meteor()  # one Java process for the whole corpus
    try:
        meteor, _ = meteor_scorer.compute_score(gts, res)
    finally:
        del meteor_scorer
    rouge, _ = Rouge().compute_score(gts, res)
    if cider_df_corpus is None:
        cider, _ = Cider().compute_score(gts, res)
    else:
        cider = cider_with_df(
            gts, res, cider_document_frequency(cider_df_corpus, clean))
    tfidf = tfidf_similarity([res[i][0] for i in ids],
                             [gts[i][0] for i in ids])
    values = [*bleu, meteor, rouge, cider, tfidf]
    return {key: float(value) for key, value in zip(METRIC_KEYS, values)}


def format_table(metrics: Mapping[str, float]) -> str:
    """A two-line table of the report metrics, three decimals."""
    header = ' '.join(f'{key:>8}' for key in METRIC_KEYS)
    row = ' '.join(f'{metrics[key]:>8.3f}' for key in METRIC_KEYS)
    return f'{header}\n{row}'


@METRICS.register_module()
class ReportGenerationMetric(BaseMetric):
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr and TF-IDF similarity of reports.

    See :func:`score_reports` and this module's docstring for the exact
    definitions.

    Args:
        pred_key (str): Data-sample key of the generated report.
            Defaults to 'pred_report'.
        gt_key (str): Data-sample key of the reference. Defaults to
            'gt_report'.
        clean (str, optional): Cleaning rule, ``'mimic_cxr'``,
            ``'iu_xray'`` or None. Defaults to 'mimic_cxr'.
        cider_df_file (str, optional): A report corpus (see
            :func:`load_report_corpus`) whose document frequencies CIDEr
            uses, as RGRG does with the validation references. None (the
            default) takes them from the references scored (pycocoevalcap).
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'report'.
    """
    default_prefix: Optional[str] = 'report'

    def __init__(self,
                 pred_key: str = 'pred_report',
                 gt_key: str = 'gt_report',
                 clean: Optional[str] = 'mimic_cxr',
                 cider_df_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.clean = clean
        self.cider_df_file = cider_df_file
        self.cider_df_corpus = None if cider_df_file is None else \
            load_report_corpus(cider_df_file)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in (self.pred_key, self.gt_key):
                if not isinstance(sample.get(key), str):
                    raise KeyError(
                        f'ReportGenerationMetric: data sample of '
                        f'{sample.get("img_path", sample.get("img_id"))} has '
                        f'no string field "{key}"')
            self.results.append((sample[self.pred_key], sample[self.gt_key]))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        predictions = {str(i): pred for i, (pred, _) in enumerate(results)}
        references = {str(i): ref for i, (_, ref) in enumerate(results)}
        metrics = score_reports(predictions, references, self.clean,
                                self.cider_df_corpus)
        MMLogger.get_current_instance().info(
            f'Report metrics over {len(results)} reports:\n' +
            format_table(metrics))
        return metrics
