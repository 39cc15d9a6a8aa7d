"""Report-generation metrics, computed as published report-generation code does.

BLEU-1..4, METEOR, ROUGE-L and CIDEr are pycocoevalcap's scorers (the code
R2Gen, RGRG and CRRG-CLIP evaluate with), applied to reports prepared by a
named scoring **protocol** (the same rule on both sides):

* ``'r2gen'`` (default): :func:`crrg.structures.clean_report`, R2Gen's
  lower-casing, punctuation-stripping cleaner (``r2gen_dataset`` picks its
  MIMIC-CXR or IU X-ray variant). The R2Gen family and the IU X-ray papers
  score this way.
* ``'rgrg'``: RGRG's ``compute_NLG_scores`` (after Nicolson et al.'s
  ``chen.py``): ``re.sub(' +', ' ', text.replace('.', ' .'))``, case kept,
  commas left on their words, nothing removed. Line breaks become spaces first
  (RGRG's reports have none; METEOR's line protocol cannot take them).
  RGRG and CRRG-CLIP (whose code is RGRG's) score this way.
* ``'none'``: white space collapsed only.

No PTB tokenisation in any protocol. BLEU is the corpus-level score
pycocoevalcap reports; the others are means over reports.

CIDEr (pycocoevalcap's CIDEr-D) has three modes:

* corpus mode (``'r2gen'`` / ``'none'`` by default): document frequencies
  from the references being scored (pycocoevalcap's ``Cider``: each study's
  references count once per n-gram).
* fixed-df mode (``'r2gen'`` / ``'none'`` with a ``cider_df_corpus``):
  document frequencies from that corpus (e.g. validation references), one
  document per report, prepared as the scored reports are; the log
  "reference length" stays the log of the number of reports scored.
* RGRG's mode (always, with ``'rgrg'``): RGRG's ``CustomCiderScorer`` runs
  pycocoevalcap's ``compute_cider`` with a stored table that its
  ``compute_cider_df`` builds as ``CiderScorer(refs=validation_reports)``,
  i.e. the whole corpus as *one* document: every n-gram it holds has
  document frequency 1, and ``log(max(1, df)) = 0`` for every n-gram, held
  or not. Every n-gram thus gets the same idf, ``log(N)`` for N reports
  scored, whatever the corpus: :func:`rgrg_cider` needs no corpus and gives
  what RGRG's code gives.

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
import re
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from crrg.structures import clean_report, normalize_whitespace
from crrg.registry import METRICS
from crrg.utils import check_choice

METRIC_KEYS = ('bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'meteor', 'rouge_l',
               'cider', 'tfidf')
#: the scoring protocols (see this module's docstring)
PROTOCOLS = ('r2gen', 'rgrg', 'none')
R2GEN_DATASETS = ('mimic_cxr', 'iu_xray')
_MULTIPLE_SPACES = re.compile(' +')
_LINE_BREAKS = re.compile(r'[\r\n\t\f\v]')


def check_protocol(protocol: str, r2gen_dataset: str = 'mimic_cxr') -> None:
    """Raise ValueError naming the choices for an unknown protocol."""
    check_choice(protocol, PROTOCOLS, 'protocol', 'report metrics')
    check_choice(r2gen_dataset, R2GEN_DATASETS, 'r2gen_dataset',
                 'report metrics')


def protocol_name(protocol: str, r2gen_dataset: str = 'mimic_cxr') -> str:
    """What a metric table prints: ``'r2gen:iu_xray'``, ``'rgrg'``, ..."""
    return f'{protocol}:{r2gen_dataset}' if protocol == 'r2gen' else protocol


def prepare_report(text: str,
                   protocol: str = 'r2gen',
                   r2gen_dataset: str = 'mimic_cxr') -> str:
    """Prepare a report for pycocoevalcap under a scoring protocol.

    Args:
        text (str): The report.
        protocol (str): ``'r2gen'``, ``'rgrg'`` or ``'none'``.
        r2gen_dataset (str): R2Gen's cleaner variant, ``'mimic_cxr'`` or
            ``'iu_xray'`` (``'r2gen'`` only).

    Returns:
        str: e.g. ``'the lungs are clear .'`` (r2gen), ``'The lungs, heart
        are clear .'`` (rgrg), ``'The lungs, heart are clear.'`` (none).
    """
    check_protocol(protocol, r2gen_dataset)
    if protocol == 'r2gen':
        return clean_report(text, r2gen_dataset)
    if protocol == 'rgrg':
        text = _LINE_BREAKS.sub(' ', text)
        return _MULTIPLE_SPACES.sub(' ', text.replace('.', ' .'))
    return normalize_whitespace(text)


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
                             protocol: str = 'r2gen',
                             r2gen_dataset: str = 'mimic_cxr') -> dict:
    """n-gram (1..4) -> number of corpus reports containing it.

    Each report is one document, prepared as the scored reports are.
    """
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    scorer = CiderScorer(n=4)
    for report in corpus:
        scorer.cook_append(
            None, [prepare_report(report, protocol, r2gen_dataset)])
    scorer.compute_doc_freq()
    return scorer.document_frequency


def cider_with_df(gts: Mapping[str, List[str]], res: Mapping[str, List[str]],
                  document_frequency: Mapping) -> float:
    """Mean CIDEr-D with a fixed document-frequency table (fixed-df mode).

    Args:
        gts (Mapping[str, list[str]]): Id -> prepared references.
        res (Mapping[str, list[str]]): Id -> [prepared generated report].
        document_frequency (Mapping): n-gram tuple -> document frequency.
    """
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    scorer = CiderScorer(n=4, sigma=6.0)
    for key in gts:
        scorer += (res[key][0], gts[key])
    scorer.document_frequency = defaultdict(float, document_frequency)
    return float(np.mean(scorer.compute_cider()))


def rgrg_cider(gts: Mapping[str, List[str]],
               res: Mapping[str, List[str]]) -> float:
    """Mean CIDEr-D as RGRG's code computes it.

    RGRG's document-frequency table gives every n-gram df 1 (see this
    module's docstring), so every n-gram weighs ``log(N)``: pycocoevalcap's
    ``compute_cider`` with an empty table computes exactly that.

    Args:
        gts (Mapping[str, list[str]]): Id -> prepared references.
        res (Mapping[str, list[str]]): Id -> [prepared generated report].
    """
    return cider_with_df(gts, res, {})


def score_reports(predictions: Mapping[str, str],
                  references: Mapping[str, Union[str, Sequence[str]]],
                  protocol: str = 'r2gen',
                  r2gen_dataset: str = 'mimic_cxr',
                  cider_df_corpus: Optional[Sequence[str]] = None
                  ) -> Dict[str, float]:
    """Score generated reports against references.

    Args:
        predictions (Mapping[str, str]): Report id to generated report.
        references (Mapping[str, str | Sequence[str]]): Report id to one
            reference or a list of references; same ids as ``predictions``.
        protocol (str): Scoring protocol applied to both sides,
            ``'r2gen'``, ``'rgrg'`` or ``'none'`` (module docstring).
        r2gen_dataset (str): R2Gen's cleaner variant, ``'mimic_cxr'`` or
            ``'iu_xray'``; ``'r2gen'`` only.
        cider_df_corpus (Sequence[str], optional): Reports whose document
            frequencies CIDEr uses (fixed-df mode); None for pycocoevalcap's
            corpus mode (the references scored). Not with ``'rgrg'``, whose
            CIDEr does not depend on a corpus.

    Returns:
        dict[str, float]: ``bleu_1`` ... ``bleu_4``, ``meteor``, ``rouge_l``,
        ``cider``, ``tfidf``.

    Raises:
        ValueError: The id sets differ, there is nothing to score, the
            protocol is unknown, or a CIDEr corpus is given with ``'rgrg'``.
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
    check_protocol(protocol, r2gen_dataset)
    if protocol == 'rgrg' and cider_df_corpus is not None:
        raise ValueError(
            "score_reports: protocol 'rgrg' computes CIDEr as RGRG's code "
            'does, which gives every n-gram the same document frequency '
            'whatever the corpus; drop the CIDEr document-frequency corpus, '
            "or use protocol 'r2gen' / 'none' for crrg's fixed-df mode")
    ids = sorted(predictions, key=str)
    res = {
        i: [prepare_report(predictions[i], protocol, r2gen_dataset)]
        for i in ids
    }
    gts = {}
    for i in ids:
        refs = references[i]
        refs = [refs] if isinstance(refs, str) else list(refs)
        gts[i] = [prepare_report(r, protocol, r2gen_dataset) for r in refs]
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor_scorer = Meteor()  # one Java process for the whole corpus
    try:
        meteor, _ = meteor_scorer.compute_score(gts, res)
    finally:
        del meteor_scorer
    rouge, _ = Rouge().compute_score(gts, res)
    if protocol == 'rgrg':
        cider = rgrg_cider(gts, res)
    elif cider_df_corpus is None:
        cider, _ = Cider().compute_score(gts, res)
    else:
        cider = cider_with_df(
            gts, res,
            cider_document_frequency(cider_df_corpus, protocol,
                                     r2gen_dataset))
    tfidf = tfidf_similarity([res[i][0] for i in ids],
                             [gts[i][0] for i in ids])
    values = [*bleu, meteor, rouge, cider, tfidf]
    return {key: float(value) for key, value in zip(METRIC_KEYS, values)}


def format_table(metrics: Mapping[str, float], protocol: str) -> str:
    """A table of the report metrics, three decimals, under a line naming
    the scoring protocol (:func:`protocol_name`)."""
    header = ' '.join(f'{key:>8}' for key in METRIC_KEYS)
    row = ' '.join(f'{metrics[key]:>8.3f}' for key in METRIC_KEYS)
    return f'scoring protocol: {protocol}\n{header}\n{row}'


@METRICS.register_module()
class ReportGenerationMetric(BaseMetric):
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr and TF-IDF similarity of reports.

    See :func:`score_reports` and this module's docstring for the exact
    definitions. Besides the scores, ``compute_metrics`` returns
    ``protocol`` (a string such as ``'rgrg'`` or ``'r2gen:mimic_cxr'``), so
    every table of the run says how the reports were scored.

    Args:
        pred_key (str): Data-sample key of the generated report.
            Defaults to 'pred_report'.
        gt_key (str): Data-sample key of the reference. Defaults to
            'gt_report'.
        protocol (str): Scoring protocol, ``'r2gen'`` (R2Gen family, IU
            X-ray), ``'rgrg'`` (RGRG, CRRG-CLIP) or ``'none'``. Defaults to
            'r2gen'.
        r2gen_dataset (str): R2Gen's cleaner variant with ``'r2gen'``,
            ``'mimic_cxr'`` or ``'iu_xray'``. Defaults to 'mimic_cxr'.
        cider_df_file (str, optional): A report corpus (see
            :func:`load_report_corpus`) whose document frequencies CIDEr
            uses (fixed-df mode; not with ``'rgrg'``, whose CIDEr needs no
            corpus). None (the default) takes them from the references
            scored (pycocoevalcap).
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'report'.
    """
    default_prefix: Optional[str] = 'report'

    def __init__(self,
                 pred_key: str = 'pred_report',
                 gt_key: str = 'gt_report',
                 protocol: str = 'r2gen',
                 r2gen_dataset: str = 'mimic_cxr',
                 cider_df_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_protocol(protocol, r2gen_dataset)
        if protocol == 'rgrg' and cider_df_file is not None:
            raise ValueError(
                "ReportGenerationMetric: protocol 'rgrg' computes CIDEr as "
                "RGRG's code does, without a corpus; drop cider_df_file "
                f'({cider_df_file})')
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.protocol = protocol
        self.r2gen_dataset = r2gen_dataset
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

    def compute_metrics(self, results: List) -> Dict[str, Union[float, str]]:
        predictions = {str(i): pred for i, (pred, _) in enumerate(results)}
        references = {str(i): ref for i, (_, ref) in enumerate(results)}
        metrics: Dict[str, Union[float, str]] = score_reports(
            predictions, references, self.protocol, self.r2gen_dataset,
            self.cider_df_corpus)
        protocol = protocol_name(self.protocol, self.r2gen_dataset)
        MMLogger.get_current_instance().info(
            f'Report metrics over {len(results)} reports:\n' +
            format_table(metrics, protocol))
        metrics['protocol'] = protocol
        return metrics
