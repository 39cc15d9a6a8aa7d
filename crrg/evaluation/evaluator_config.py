"""The clinical metrics a report evaluator gets at test time, as config.

``tools/test.py`` passes its ``--no-ce`` / ``--chexbert`` / ``--radgraph``
flags here and sets the result as the config's ``test_evaluator``, as a
``--cfg-options test_evaluator=[...]`` would; the runner then builds every
metric from the config.
"""
from typing import List, Optional, Sequence, Union

from crrg.registry import METRICS, TASK_UTILS

RULES_LABELER = 'RuleBasedCheXpertLabeler'


def _prefix(metric: dict) -> Optional[str]:
    """The prefix a metric config's scores will carry (``ce_rules``, ...)."""
    if metric.get('prefix'):
        return metric['prefix']
    cls = metric['type']
    cls = METRICS.get(cls) if isinstance(cls, str) else cls
    if cls is not None and cls.__name__ == 'ClinicalEfficacyMetric':
        labeler = (metric.get('labeler') or {}).get('type', RULES_LABELER)
        labeler = TASK_UTILS.get(labeler) if isinstance(labeler,
                                                        str) else labeler
        return f'ce_{labeler.name}'
    return getattr(cls, 'default_prefix', None)


def _is_report_metric(metric: dict) -> bool:
    return metric['type'] in ('ReportGenerationMetric',
                              METRICS.get('ReportGenerationMetric'))


def add_clinical_metrics(evaluator: Union[dict, Sequence[dict], None],
                         rules: bool = True,
                         chexbert: Optional[dict] = None,
                         radgraph: Optional[dict] = None) -> List[dict]:
    """An evaluator config with clinical metrics beside its report metric.

    Beside the first ``ReportGenerationMetric`` (reading its ``pred_key``
    and ``gt_key``) come: the rule-based CE metric (``ce_rules/...``), CE
    from CheXbert (``ce_chexbert/...``) and RadGraph F1 (``radgraph/...``),
    each unless the evaluator already has a metric of that prefix. An
    evaluator without a report metric is returned unchanged (as a list).

    Args:
        evaluator (dict | Sequence[dict] | None): A ``test_evaluator``
            config: one metric config or a list of them.
        rules (bool): Add the weight-free rule-based CE metric. Defaults to
            True.
        chexbert (dict, optional): ``CheXbertLabeler`` arguments
            (``checkpoint``, ``tokenizer``): add CheXbert CE.
        radgraph (dict, optional): ``RadGraphMetric`` arguments
            (``model_dir``, ``model_type``): add RadGraph F1.

    Returns:
        list[dict]: The metric configs, the given ones first (copies).
    """
    if evaluator is None:
        metrics = []
    elif isinstance(evaluator, dict):
        metrics = [dict(evaluator)]
    else:
        metrics = [dict(m) for m in evaluator]
    reports = [m for m in metrics if _is_report_metric(m)]
    if not reports:
        return metrics
    keys = dict(
        pred_key=reports[0].get('pred_key', 'pred_report'),
        gt_key=reports[0].get('gt_key', 'gt_report'))
    wanted = []
    if rules:
        wanted.append(dict(type='ClinicalEfficacyMetric', **keys))
    if chexbert is not None:
        wanted.append(
            dict(type='ClinicalEfficacyMetric',
                 labeler=dict(type='CheXbertLabeler', **chexbert), **keys))
    if radgraph is not None:
        wanted.append(dict(type='RadGraphMetric', **radgraph, **keys))
    have = {_prefix(m) for m in metrics}
    return metrics + [m for m in wanted if _prefix(m) not in have]
