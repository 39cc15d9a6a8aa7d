import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.evaluator import Evaluator

from crrg.structures import clean_report
from crrg.evaluation.metrics.report_metric import (METRIC_KEYS, score_reports,
                                                   tfidf_similarity)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

REFERENCES = {
    'a': 'The lungs are clear. No pleural effusion.',
    'b': 'There is an opacity in the right lower lung zone.',
    'c': 'Heart size is normal.\nThe mediastinum is unremarkable.',
    'd': 'Small left effusion. No pneumothorax.',
    'e': 'Épanchement minime à gauche. Cœur normal.',
}
PREDICTIONS = {
    'a': 'The lungs are clear. No pleural effusion.',
    'b': '',  # empty hypothesis
    'c': 'Normal.',  # one word
    'd': 'Small left effusion. Small left effusion. Small left effusion.',
    'e': 'Épanchement à gauche.',  # unicode
}


def _pycocoevalcap_direct(preds, refs):
    """The same corpus scored by calling pycocoevalcap directly."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    gts = {k: [clean_report(v)] for k, v in refs.items()}
    res = {k: [clean_report(v)] for k, v in preds.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor, _ = Meteor().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return dict(bleu_1=bleu[0], bleu_2=bleu[1], bleu_3=bleu[2],
                bleu_4=bleu[3], meteor=meteor, rouge_l=rouge, cider=cider)


@pytest.fixture(scope='module')
def ours():
    """crrg's scores of the corpus (METEOR starts Java: compute once)."""
    return score_reports(PREDICTIONS, REFERENCES)


def test_agrees_with_pycocoevalcap_including_edge_cases(ours):
    assert set(ours) == set(METRIC_KEYS)
    theirs = _pycocoevalcap_direct(PREDICTIONS, REFERENCES)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key
    # and the scores are not degenerate: one perfect report of five
    assert 0.2 < ours['bleu_1'] < 1.0
    assert 0 < ours['rouge_l'] < 1.0


def test_perfect_and_disjoint_reports():
    refs = {'1': 'The heart is normal.', '2': 'No effusion.'}
    perfect = score_reports(dict(refs), refs)
    assert perfect['bleu_1'] == pytest.approx(1.0, abs=1e-6)
    assert perfect['rouge_l'] == pytest.approx(1.0)
    assert perfect['meteor'] > 0.9
    assert perfect['tfidf'] == pytest.approx(1.0)
    # only the sentence-end token ' .' is shared
    assert tfidf_similarity(['zebra', 'quokka'], list(refs.values())) == 0.0


def test_tfidf_by_hand():
    refs = ['a b', 'a c', 'd d']
    preds = ['a b', 'c', 'x']
    # smooth idf: ln((1+n)/(1+df)) + 1 with n = 3
    idf = {t: math.log(4 / (1 + df)) + 1
           for t, df in dict(a=2, b=1, c=1, d=1).items()}
    # sklearn's default token pattern drops one-letter words: use words
    words = dict(a='alpha', b='bravo', c='charlie', d='delta', x='xray')

    def spell(text):
        return ' '.join(words[t] for t in text.split())

    def vec(text):
        counts = {}
        for t in text.split():
            counts[t] = counts.get(t, 0) + idf.get(t, 0)
        norm = math.sqrt(sum(v * v for v in counts.values())) or 1
        return {t: v / norm for t, v in counts.items()}

    expected = []
    for p, r in zip(preds, refs):
        vp, vr = vec(p), vec(r)
        expected.append(sum(vp.get(t, 0) * vr.get(t, 0) for t in vr))
    got = tfidf_similarity([spell(p) for p in preds],
                           [spell(r) for r in refs])
    assert got == pytest.approx(sum(expected) / 3)


def test_mismatched_ids_raise():
    with pytest.raises(ValueError, match='different ids'):
        score_reports({'1': 'a'}, {'2': 'a'})


def test_metric_through_mmengine_evaluator(ours):
    evaluator = Evaluator(dict(type='ReportGenerationMetric'))
    samples = [dict(pred_report=PREDICTIONS[k], gt_report=REFERENCES[k])
               for k in sorted(REFERENCES)]
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    metrics = evaluator.evaluate(len(samples))
    for key in METRIC_KEYS:
        assert metrics[f'report/{key}'] == pytest.approx(ours[key], abs=1e-9)


def test_classification_metric_matches_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(40, generator=gen)
    labels = (torch.rand(40, generator=gen) < probs).long()
    evaluator = Evaluator(
        dict(type='BinaryClassificationMetric', threshold=0.4))
    evaluator.process([
        dict(pred_score=torch.stack([1 - p, p]) if i % 2 else p[None],
             gt_label=torch.tensor([int(y)]))
        for i, (p, y) in enumerate(zip(probs, labels))
    ])
    metrics = evaluator.evaluate(40)
    preds = (probs >= 0.4).long()
    assert metrics['binary/auc'] == pytest.approx(
        roc_auc_score(labels, probs))
    assert metrics['binary/accuracy'] == pytest.approx(
        accuracy_score(labels, preds))
    assert metrics['binary/f1'] == pytest.approx(f1_score(labels, preds))
    one_class = Evaluator(dict(type='BinaryClassificationMetric'))
    one_class.process([dict(pred_score=torch.tensor([0.3]), gt_label=1)] * 3)
    with pytest.raises(ValueError, match='both classes'):
        one_class.evaluate(3)


def _write(path, rows):
    path.write_text('\n'.join(r if isinstance(r, str) else json.dumps(r)
                              for r in rows) + '\n')
    return str(path)


def _cli(*args):
    return subprocess.run(
        [sys.executable, 'tools/eval_reports.py', *args], cwd=ROOT,
        capture_output=True, text=True, timeout=300)


def test_cli_scores_in_any_order_and_writes_json(tmp_path, ours):
    ids = sorted(REFERENCES)
    pred = _write(tmp_path / 'pred.jsonl',
                  [dict(id=i, report=PREDICTIONS[i]) for i in ids])
    gt = _write(tmp_path / 'gt.jsonl',
                [dict(id=i, report=REFERENCES[i]) for i in reversed(ids)])
    out = tmp_path / 'metrics.json'
    proc = _cli(pred, gt, '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert 'report/bleu_4' in proc.stdout
    assert 'ce_rules/f1_micro5_unc-pos' in proc.stdout
    metrics = json.loads(out.read_text())
    assert [k for k in metrics if k.startswith('report/')] == [
        f'report/{k}' for k in METRIC_KEYS]
    assert metrics['report/cider'] == pytest.approx(ours['cider'])
    # the rule-based CE scores of the same pairs
    from crrg.evaluation import score_clinical_efficacy
    ce = score_clinical_efficacy([PREDICTIONS[i] for i in ids],
                                 [REFERENCES[i] for i in ids])
    assert metrics['ce_rules/f1_micro14_unc-pos'] == pytest.approx(
        ce['f1_micro14_unc-pos'])


def test_cli_lists_every_problem_with_line_numbers(tmp_path):
    pred = _write(tmp_path / 'pred.jsonl', [
        dict(id='a', report='x'), '{not json', dict(id='a', report='y'),
        dict(id='b', report=3), dict(id='c', report='only here')
    ])
    gt = _write(tmp_path / 'gt.jsonl', [
        dict(id='a', report='x'), dict(id='z', report='no prediction'),
        dict(report='no id')
    ])
    proc = _cli(pred, gt)
    assert proc.returncode == 2
    err = proc.stderr
    assert f'{pred}:2: not valid JSON' in err
    assert f"{pred}:3: duplicate id 'a'" in err
    assert f'{pred}:4: "report" is a int' in err
    assert f"{pred}:5: id 'c' has no reference" in err
    assert f"{gt}:2: id 'z' has no prediction" in err
    assert f'{gt}:3: expected an object' in err


def test_cli_allow_missing_scores_intersection(tmp_path):
    pred = _write(tmp_path / 'pred.jsonl', [
        dict(id='a', report='the lungs are clear'),
        dict(id='c', report='extra')
    ])
    gt = _write(tmp_path / 'gt.jsonl', [
        dict(id='a', report='the lungs are clear'),
        dict(id='z', report='no prediction'),
        dict(id='y', report='no prediction either')
    ])
    proc = _cli(pred, gt, '--allow-missing')
    assert proc.returncode == 0, proc.stderr
    assert 'scoring 1 shared ids; dropped 1 prediction(s)' in proc.stdout
    assert 'and 2 reference(s) without prediction' in proc.stdout


class _NoMeteor:
    """Stands in for METEOR (a Java process) where only CIDEr is checked."""

    def compute_score(self, gts, res):
        return 0.0, [0.0] * len(gts)


def test_cider_modes_corpus_and_fixed_document_frequencies(
        tmp_path, monkeypatch):
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    from crrg.evaluation.metrics.report_metric import (
        cider_document_frequency, cider_with_df, load_report_corpus)
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    refs = {'1': 'The heart is normal. No effusion.',
            '2': 'Small left effusion.', '3': 'The heart is enlarged.'}
    preds = {'1': 'The heart is normal.', '2': 'Small right effusion.',
             '3': 'The heart is normal.'}
    corpus_mode = score_reports(preds, refs)['cider']
    # df from the very references scored (one per study) = corpus mode
    same = score_reports(preds, refs, cider_df_corpus=list(refs.values()))
    assert same['cider'] == pytest.approx(corpus_mode)
    # a corpus in which "heart" is everywhere weighs it down
    other = ['the heart is normal'] * 3 + ['small left effusion']
    fixed = score_reports(preds, refs, cider_df_corpus=other)['cider']
    assert fixed != pytest.approx(corpus_mode)
    df = cider_document_frequency(other)
    assert df[('heart', )] == 3 and df[('small', 'left')] == 1
    gts = {k: [clean_report(v)] for k, v in refs.items()}
    res = {k: [clean_report(v)] for k, v in preds.items()}
    assert cider_with_df(gts, res, df) == pytest.approx(fixed)
    # RGRG's compute_cider_df passes the corpus as ONE image's references
    # (CiderScorer(refs=corpus)): each n-gram then has document frequency 1
    scorer = CiderScorer(refs=other)
    scorer.compute_doc_freq()
    assert set(scorer.document_frequency.values()) == {1.0}
    # corpus files: JSONL with "report", or plain lines
    jsonl = tmp_path / 'val.jsonl'
    jsonl.write_text('{"id": 1, "report": "a b"}\n\n{"report": "c"}\n')
    assert load_report_corpus(str(jsonl)) == ['a b', 'c']
    (tmp_path / 'bad.jsonl').write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match='bad.jsonl:1'):
        load_report_corpus(str(tmp_path / 'bad.jsonl'))
    text = tmp_path / 'val.txt'
    text.write_text('first report\nsecond report\n')
    assert load_report_corpus(str(text)) == ['first report', 'second report']
    evaluator = Evaluator(
        dict(type='ReportGenerationMetric', cider_df_file=str(text)))
    assert evaluator.metrics[0].cider_df_corpus == ['first report',
                                                    'second report']
