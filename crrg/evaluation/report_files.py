"""Scoring reports outside a test run: report files and baselines.

What ``tools/eval_reports.py`` and ``tools/constant_report_baseline.py``
compute; the tools only parse their arguments and call these functions.
Every result carries ``report/protocol``, the scoring protocol of the report
metrics (:mod:`crrg.evaluation.metrics.report_metric`).
"""
import inspect
import json
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .metrics.clinical_efficacy_metric import score_clinical_efficacy
from .metrics.report_metric import (ReportGenerationMetric, protocol_name,
                                    score_reports)

Metrics = Dict[str, Union[float, str]]


def read_reports(path: str) -> Tuple[Dict[str, str], Dict[str, int],
                                     List[str]]:
    """Read a JSONL report file (one ``{"id": ..., "report": "..."}`` a line).

    Returns:
        tuple: id -> report, id -> line number, and the list of problems
        (each naming the file and the line).
    """
    reports: Dict[str, str] = {}
    lines: Dict[str, int] = {}
    problems: List[str] = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f'{path}:{number}'
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f'{where}: not valid JSON ({e.msg})')
                continue
            if not isinstance(record, dict) or 'id' not in record \
                    or 'report' not in record:
                problems.append(f'{where}: expected an object with keys "id" '
                                'and "report"')
                continue
            if not isinstance(record['report'], str):
                problems.append(f'{where}: "report" is a '
                                f'{type(record["report"]).__name__}, not a '
                                'string')
                continue
            key = str(record['id'])
            if key in reports:
                problems.append(f'{where}: duplicate id {key!r} (first on '
                                f'line {lines[key]})')
                continue
            reports[key] = record['report']
            lines[key] = number
    return reports, lines, problems


def match_report_files(pred_path: str, gt_path: str,
                       allow_missing: bool = False
                       ) -> Tuple[Dict[str, str], Dict[str, str], List[str],
                                  Tuple[int, int]]:
    """Read and pair a predictions file and a references file by id.

    Args:
        pred_path (str): Generated reports (JSONL).
        gt_path (str): Reference reports (JSONL).
        allow_missing (bool): Keep only the ids both files share instead of
            listing the others as problems.

    Returns:
        tuple: predictions and references (id -> report, the shared ids
        only), the problems (file and line named each; nothing is scored
        when there is one), and the numbers of predictions and references
        dropped for want of a partner.
    """
    preds, pred_lines, problems = read_reports(pred_path)
    refs, ref_lines, ref_problems = read_reports(gt_path)
    problems += ref_problems
    only_pred = sorted(set(preds) - set(refs))
    only_ref = sorted(set(refs) - set(preds))
    if not allow_missing:
        problems += [f'{pred_path}:{pred_lines[i]}: id {i!r} has no '
                     f'reference in {gt_path}' for i in only_pred]
        problems += [f'{gt_path}:{ref_lines[i]}: id {i!r} has no prediction '
                     f'in {pred_path}' for i in only_ref]
    shared = sorted(set(preds) & set(refs))
    return ({i: preds[i] for i in shared}, {i: refs[i] for i in shared},
            problems, (len(only_pred), len(only_ref)))


def score_report_pairs(predictions: Dict[str, str],
                       references: Dict[str, str],
                       protocol: str = 'r2gen',
                       r2gen_dataset: str = 'mimic_cxr',
                       cider_df_corpus: Optional[Sequence[str]] = None,
                       rules: bool = True,
                       chexbert_labeler=None,
                       radgraph_annotator=None) -> Metrics:
    """Report metrics (``report/...``) and CE / RadGraph scores of pairs.

    Args:
        predictions (dict[str, str]): Id -> generated report.
        references (dict[str, str]): Id -> reference, same ids.
        protocol (str): Scoring protocol of the report metrics.
        r2gen_dataset (str): R2Gen's cleaner variant (``'r2gen'`` only).
        cider_df_corpus (Sequence[str], optional): CIDEr fixed-df corpus.
        rules (bool): Add the rule-based CE scores (``ce_rules/...``).
        chexbert_labeler (optional): A CheXbert labeler for
            ``ce_chexbert/...``.
        radgraph_annotator (optional): A RadGraph annotator for
            ``radgraph/...``.

    Returns:
        dict: Metric name -> value, ``report/protocol`` included.
    """
    from .metrics.radgraph_metric import score_radgraph
    ids = sorted(predictions)
    pred_list = [predictions[i] for i in ids]
    ref_list = [references[i] for i in ids]
    scores = score_reports(predictions, references, protocol, r2gen_dataset,
                           cider_df_corpus=cider_df_corpus)
    metrics: Metrics = {f'report/{k}': v for k, v in scores.items()}
    metrics['report/protocol'] = protocol_name(protocol, r2gen_dataset)
    if rules:
        metrics.update({
            f'ce_rules/{k}': v
            for k, v in score_clinical_efficacy(pred_list, ref_list).items()
        })
    if chexbert_labeler is not None:
        metrics.update({
            f'ce_chexbert/{k}': v for k, v in score_clinical_efficacy(
                pred_list, ref_list, chexbert_labeler).items()
        })
    if radgraph_annotator is not None:
        metrics.update({
            f'radgraph/{k}': v for k, v in score_radgraph(
                pred_list, ref_list, radgraph_annotator).items()
        })
    return metrics


def _dataset_reports(dataset_cfg) -> Dict[str, str]:
    """img_id -> gt_report of a dataset config, without its pipeline."""
    from crrg.registry import DATASETS
    dataset = DATASETS.build(dict(dataset_cfg, pipeline=[]))
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return {info['img_id']: info['gt_report'] for info in infos}


def config_report_protocol(cfg) -> Tuple[str, str]:
    """``(protocol, r2gen_dataset)`` of a config's ``ReportGenerationMetric``
    (its test evaluator's); the metric's defaults when it has none."""
    evaluators = cfg.get('test_evaluator') or []
    if isinstance(evaluators, dict):
        evaluators = evaluators.get('metrics', [evaluators])
    params = inspect.signature(ReportGenerationMetric).parameters
    protocol = params['protocol'].default
    r2gen_dataset = params['r2gen_dataset'].default
    for evaluator in evaluators:
        if evaluator.get('type') in ('ReportGenerationMetric',
                                     ReportGenerationMetric):
            return (evaluator.get('protocol', protocol),
                    evaluator.get('r2gen_dataset', r2gen_dataset))
    return protocol, r2gen_dataset


def constant_report_baseline(cfg, protocol: Optional[str] = None,
                             r2gen_dataset: Optional[str] = None
                             ) -> Tuple[str, int, int, Metrics]:
    """Score the most common training report given to every test image.

    Args:
        cfg (Config): A report-generation config (its train and test
            datasets are built without pipelines).
        protocol (str, optional): Scoring protocol; None takes the config's
            (:func:`config_report_protocol`).
        r2gen_dataset (str, optional): R2Gen's cleaner variant; None takes
            the config's.

    Returns:
        tuple: the constant report, how many training images have it, the
        number of training images, and the metrics (report metrics with
        ``report/protocol``, rule-based CE).
    """
    cfg_protocol, cfg_dataset = config_report_protocol(cfg)
    train = _dataset_reports(cfg.train_dataloader.dataset)
    test = _dataset_reports(cfg.test_dataloader.dataset)
    report, count = Counter(train.values()).most_common(1)[0]
    metrics = score_report_pairs({str(i): report for i in test},
                                 {str(i): r for i, r in test.items()},
                                 protocol or cfg_protocol,
                                 r2gen_dataset or cfg_dataset)
    return report, count, len(train), metrics
