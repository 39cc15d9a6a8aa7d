"""add_clinical_metrics: the clinical metrics beside a report metric, as
config, built by mmengine's Evaluator like any other metric."""
from mmengine.evaluator import Evaluator

from crrg.evaluation import (ClinicalEfficacyMetric, RadGraphMetric,
                             ReportGenerationMetric, add_clinical_metrics)

REPORT = dict(type='ReportGenerationMetric', pred_key='pred', gt_key='ref')
KEYS = dict(pred_key='pred', gt_key='ref')


def test_all_three_beside_the_first_report_metric():
    metrics = add_clinical_metrics(
        [dict(type='RegionSelectionMetric'), REPORT,
         dict(type='ReportGenerationMetric', prefix='other')],
        chexbert=dict(checkpoint='c.pth', tokenizer='tok'),
        radgraph=dict(model_dir='rg', model_type='radgraph-xl'))
    assert metrics[3:] == [
        dict(type='ClinicalEfficacyMetric', **KEYS),
        dict(type='ClinicalEfficacyMetric',
             labeler=dict(type='CheXbertLabeler', checkpoint='c.pth',
                          tokenizer='tok'), **KEYS),
        dict(type='RadGraphMetric', model_dir='rg',
             model_type='radgraph-xl', **KEYS),
    ]


def test_no_report_metric_no_change_and_no_duplicates():
    assert add_clinical_metrics(None) == []
    retrieval = dict(type='ImageTextRetrievalMetric')
    assert add_clinical_metrics(retrieval) == [retrieval]
    # a config that already has the rule-based CE (by type or by prefix)
    # or a CheXbert CE keeps its own
    own = [REPORT, dict(type=ClinicalEfficacyMetric, uncertain='negative'),
           dict(type='ClinicalEfficacyMetric', prefix='ce_chexbert')]
    assert add_clinical_metrics(
        own, chexbert=dict(checkpoint='c', tokenizer='t')) == own
    # the input is not edited in place
    config = [REPORT]
    add_clinical_metrics(config)
    assert config == [REPORT]


def test_the_configs_build_as_metrics():
    evaluator = Evaluator(add_clinical_metrics([REPORT]))
    report, ce = evaluator.metrics
    assert isinstance(report, ReportGenerationMetric)
    assert isinstance(ce, ClinicalEfficacyMetric)
    assert (ce.prefix, ce.pred_key, ce.gt_key) == ('ce_rules', 'pred', 'ref')
    assert RadGraphMetric.default_prefix == 'radgraph'
