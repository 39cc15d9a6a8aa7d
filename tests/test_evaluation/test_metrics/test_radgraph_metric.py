"""RadGraph F1 rewards by hand and the metric's plumbing (no weights)."""
import pytest
from mmengine.evaluator import Evaluator

from crrg.evaluation.metrics.radgraph_metric import (build_radgraph_annotator,
                                                     radgraph_rewards,
                                                     score_radgraph)


def entity(tokens, label, relations=()):
    return dict(tokens=tokens, label=label,
                relations=[list(r) for r in relations])


REF = dict(entities={
    '1': entity('effusion', 'OBS-DP', [('located_at', '2')]),
    '2': entity('left', 'ANAT-DP'),
    '3': entity('pneumothorax', 'OBS-DA'),
})
HYP = dict(entities={
    '1': entity('effusion', 'OBS-DP', [('located_at', '2')]),
    '2': entity('right', 'ANAT-DP'),
    '3': entity('pneumothorax', 'OBS-DA'),
    '4': entity('heart', 'ANAT-DP'),
})


def test_rewards_by_hand():
    r = radgraph_rewards(HYP, REF)
    # simple: {effusion, pneumothorax} shared; P 2/4, R 2/3
    assert r['simple'] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    # partial: (effusion, OBS-DP, True) and pneumothorax shared: same counts
    assert r['partial'] == pytest.approx(r['simple'])
    # complete: hyp {effusion-located_at-right, right, pneumothorax, heart},
    # ref {effusion-located_at-left, left, pneumothorax}: 1 shared
    assert r['complete'] == pytest.approx(2 * (1 / 4) * (1 / 3) /
                                          (1 / 4 + 1 / 3))
    assert radgraph_rewards(REF, REF) == dict(simple=1.0, partial=1.0,
                                              complete=1.0)
    assert radgraph_rewards(dict(entities={}), REF)['simple'] == 0.0


def fake_annotator(texts):
    # one entity per word; "X near Y" relates X to Y
    out = {}
    for i, text in enumerate(texts):
        words = text.lower().replace('.', '').split()
        entities = {}
        for j, word in enumerate(words):
            rel = []
            if j + 2 < len(words) and words[j + 1] == 'near':
                rel = [('located_at', str(j + 3))]
            entities[str(j + 1)] = entity(word, 'OBS-DP', rel)
        out[str(i)] = dict(entities=entities)
    return out


def test_scores_in_range_identical_is_max_empty_is_zero():
    preds = ['effusion near base.', 'nodule.', '']
    refs = ['effusion near base.', 'effusion.', 'normal.']
    s = score_radgraph(preds, refs, fake_annotator)
    # report 1 scores 1, report 2 and the empty report 0
    assert s == pytest.approx(dict(f1_simple=1 / 3, f1_partial=1 / 3,
                                   f1_complete=1 / 3))
    assert score_radgraph(refs, refs, fake_annotator) == dict(
        f1_simple=1.0, f1_partial=1.0, f1_complete=1.0)


def test_metric_in_an_evaluator_and_missing_model_message(tmp_path):
    evaluator = Evaluator(
        [dict(type='RadGraphMetric', annotator=fake_annotator)])
    evaluator.process([dict(pred_report='a near b.', gt_report='a near b.')])
    assert evaluator.evaluate(1) == {'radgraph/f1_simple': 1.0,
                                     'radgraph/f1_partial': 1.0,
                                     'radgraph/f1_complete': 1.0}
    with pytest.raises(FileNotFoundError,
                       match='radgraph-xl.tar.gz') as err:
        build_radgraph_annotator(str(tmp_path))
    assert str(tmp_path / 'radgraph-xl' / 'config.json') in str(err.value)
