"""CE scores: hand arithmetic, RGRG's procedure, the registered metric."""
import numpy as np
import pytest
from mmengine.evaluator import Evaluator

from crrg.evaluation.labelers import CE5_CONDITIONS, CHEXPERT_CONDITIONS
from crrg.evaluation.metrics.clinical_efficacy_metric import (
    ce_scores, score_clinical_efficacy)

C = {name: i for i, name in enumerate(CHEXPERT_CONDITIONS)}


def labels(rows):
    out = np.zeros((len(rows), 14), dtype=np.int64)
    for r, row in enumerate(rows):
        for name, value in row.items():
            out[r, C[name]] = value
    return out


# 1 positive, 2 negative, 3 uncertain, absent = blank
PRED = labels([{'Cardiomegaly': 1, 'Pleural Effusion': 3, 'Lung Opacity': 1},
               {'Edema': 1, 'Atelectasis': 2},
               {'No Finding': 1}])
REF = labels([{'Cardiomegaly': 1, 'Pleural Effusion': 1, 'Lung Opacity': 0},
              {'Edema': 3, 'Atelectasis': 1},
              {'Cardiomegaly': 1}])


def test_hand_computed_micro_macro_example():
    s = ce_scores(PRED, REF)
    # uncertain = positive; 5 conditions: TP 3 (card, eff, edema), FN 2
    assert s['precision_micro5_unc-pos'] == pytest.approx(1.0)
    assert s['recall_micro5_unc-pos'] == pytest.approx(0.6)
    assert s['f1_micro5_unc-pos'] == pytest.approx(0.75)
    # 14 conditions: TP 3, FP 2 (opacity, no finding), FN 2
    assert s['f1_micro14_unc-pos'] == pytest.approx(0.6)
    # per condition: card 2/3, effusion 1, edema 1, atelectasis 0, consol. 0
    assert s['f1_cardiomegaly_unc-pos'] == pytest.approx(2 / 3)
    assert s['f1_atelectasis_unc-pos'] == 0.0
    assert s['f1_macro5_unc-pos'] == pytest.approx((2 / 3 + 1 + 1) / 5)
    assert s['precision_macro5_unc-pos'] == pytest.approx(3 / 5)
    assert s['recall_macro5_unc-pos'] == pytest.approx(2.5 / 5)
    # example-based, uncertain = negative: report F1s 0.5, 0, 0
    assert s['precision_example14_unc-neg'] == pytest.approx(1 / 6)
    assert s['recall_example14_unc-neg'] == pytest.approx(1 / 6)
    assert s['f1_example14_unc-neg'] == pytest.approx(1 / 6)


def test_uncertain_mapping_changes_figures_and_names():
    s = ce_scores(PRED, REF, uncertain='negative', example_uncertain='positive')
    # label-1 only: TP 1 (card r0), FP 1 (edema r1), FN 3
    assert s['f1_micro5_unc-neg'] == pytest.approx(1 / 3)
    assert 'f1_micro5_unc-pos' not in s
    assert 'f1_example14_unc-pos' in s
    with pytest.raises(ValueError, match='uncertain'):
        ce_scores(PRED, REF, uncertain='ignore')


def rgrg_scores(gen, ref):
    """RGRG's compute_clinical_efficacy_scores, re-stated with sklearn."""
    from sklearn.metrics import precision_recall_fscore_support
    micro_gen = np.isin(gen, (1, 3)).astype(int)
    micro_ref = np.isin(ref, (1, 3)).astype(int)
    five = [C[c] for c in CE5_CONDITIONS]
    out = {}
    p, r, f, _ = precision_recall_fscore_support(
        micro_ref[:, five].T.ravel(), micro_gen[:, five].T.ravel(),
        average='binary', zero_division=0)
    out['micro5'] = (p, r, f)
    p, r, f, _ = precision_recall_fscore_support(
        micro_ref.T.ravel(), micro_gen.T.ravel(), average='binary',
        zero_division=0)
    out['micro14'] = (p, r, f)
    out['per'] = [
        precision_recall_fscore_support(
            micro_ref[:, c], micro_gen[:, c], average='binary',
            zero_division=0)[2] for c in range(14)
    ]
    g, t = gen == 1, ref == 1
    tp, fp, fn = (g & t).sum(1), (g & ~t).sum(1), (~g & t).sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        ex = [tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)]
    out['example'] = tuple(float(np.nan_to_num(x).mean()) for x in ex)
    return out


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_rgrg_procedure_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    gen = rng.integers(0, 4, size=(40, 14))
    ref = rng.integers(0, 4, size=(40, 14))
    gen[:, -1] = rng.integers(0, 2, size=40)  # No Finding: blank/positive
    ref[:, -1] = rng.integers(0, 2, size=40)
    ours, theirs = ce_scores(gen, ref), rgrg_scores(gen, ref)
    for group in ('micro5', 'micro14'):
        for i, name in enumerate(('precision', 'recall', 'f1')):
            assert ours[f'{name}_{group}_unc-pos'] == pytest.approx(
                theirs[group][i])
    for c, condition in enumerate(CHEXPERT_CONDITIONS):
        key = f'f1_{condition.lower().replace(" ", "_")}_unc-pos'
        assert ours[key] == pytest.approx(theirs['per'][c])
    assert ours['f1_macro14_unc-pos'] == pytest.approx(np.mean(theirs['per']))
    for i, name in enumerate(('precision', 'recall', 'f1')):
        assert ours[f'{name}_example14_unc-neg'] == pytest.approx(
            theirs['example'][i])


def test_identical_reports_score_the_maximum_and_shapes_are_checked():
    reports = ['Moderate cardiomegaly. Small left pleural effusion.',
               'Left basilar atelectasis. No pneumothorax.',
               'Possible right lower lobe pneumonia.']
    s = score_clinical_efficacy(reports, reports)
    for key in ('f1_micro5_unc-pos', 'f1_micro14_unc-pos'):
        assert s[key] == 1.0, key
    # example-based (uncertain = negative): the third report has no positive
    # label on either side, so its F1 is undefined and counts 0, as in RGRG
    assert s['f1_example14_unc-neg'] == pytest.approx(2 / 3)
    assert all(0.0 <= v <= 1.0 for v in s.values())
    with pytest.raises(ValueError, match=r'\(N, 14\)'):
        ce_scores(PRED[:, :5], REF[:, :5])


def test_registered_metric_in_an_evaluator_names_labeler_and_settings():
    evaluator = Evaluator([dict(type='ClinicalEfficacyMetric')])
    samples = [
        dict(pred_report='Cardiomegaly.', gt_report='The heart is enlarged.'),
        dict(pred_report='No pneumothorax.', gt_report='Small pneumothorax.'),
    ]
    evaluator.process(samples)
    metrics = evaluator.evaluate(2)
    assert metrics['ce_rules/f1_micro5_unc-pos'] == 1.0  # cardiomegaly only
    assert metrics['ce_rules/recall_micro14_unc-pos'] == pytest.approx(0.5)
    assert 'ce_rules/f1_example14_unc-neg' in metrics
    with pytest.raises(KeyError, match='gt_report'):
        evaluator.process([dict(pred_report='x')])
