import json
import math
import os.path as osp
import runpy
import sys
from types import SimpleNamespace

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


def test_metric_through_mmengine_evaluator(ours, monkeypatch):
    # the plumbing (batches gathered in order, keys prefixed); METEOR's Java
    # run is checked against pycocoevalcap in the agreement test
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    evaluator = Evaluator(dict(type='ReportGenerationMetric'))
    samples = [dict(pred_report=PREDICTIONS[k], gt_report=REFERENCES[k])
               for k in sorted(REFERENCES)]
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    metrics = evaluator.evaluate(len(samples))
    assert metrics['report/meteor'] == 0.0  # the stand-in
    for key in set(METRIC_KEYS) - {'meteor'}:
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


def _cli(capsys, *args):
    """tools/eval_reports.py in this process (no second torch import)."""
    argv = sys.argv
    sys.argv = ['tools/eval_reports.py', *map(str, args)]
    try:
        runpy.run_path(osp.join(ROOT, 'tools', 'eval_reports.py'),
                       run_name='__main__')
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=captured.out,
                           stderr=captured.err)


def test_cli_scores_in_any_order_and_writes_json(tmp_path, ours, capsys,
                                                 monkeypatch):
    # CIDEr and CE are checked here; METEOR's Java run is the agreement
    # test's
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    ids = sorted(REFERENCES)
    pred = _write(tmp_path / 'pred.jsonl',
                  [dict(id=i, report=PREDICTIONS[i]) for i in ids])
    gt = _write(tmp_path / 'gt.jsonl',
                [dict(id=i, report=REFERENCES[i]) for i in reversed(ids)])
    out = tmp_path / 'metrics.json'
    proc = _cli(capsys, pred, gt, '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert 'report/bleu_4' in proc.stdout
    assert 'ce_rules/f1_micro5_unc-pos' in proc.stdout
    metrics = json.loads(out.read_text())
    assert [k for k in metrics if k.startswith('report/')] == [
        f'report/{k}' for k in METRIC_KEYS] + ['report/protocol']
    assert metrics['report/protocol'] == 'r2gen:mimic_cxr'
    assert metrics['report/cider'] == pytest.approx(ours['cider'])
    # the rule-based CE scores of the same pairs
    from crrg.evaluation import score_clinical_efficacy
    ce = score_clinical_efficacy([PREDICTIONS[i] for i in ids],
                                 [REFERENCES[i] for i in ids])
    assert metrics['ce_rules/f1_micro14_unc-pos'] == pytest.approx(
        ce['f1_micro14_unc-pos'])


def test_cli_lists_every_problem_with_line_numbers(tmp_path, capsys):
    pred = _write(tmp_path / 'pred.jsonl', [
        dict(id='a', report='x'), '{not json', dict(id='a', report='y'),
        dict(id='b', report=3), dict(id='c', report='only here')
    ])
    gt = _write(tmp_path / 'gt.jsonl', [
        dict(id='a', report='x'), dict(id='z', report='no prediction'),
        dict(report='no id')
    ])
    proc = _cli(capsys, pred, gt)
    assert proc.returncode == 2
    err = proc.stderr
    assert f'{pred}:2: not valid JSON' in err
    assert f"{pred}:3: duplicate id 'a'" in err
    assert f'{pred}:4: "report" is a int' in err
    assert f"{pred}:5: id 'c' has no reference" in err
    assert f"{gt}:2: id 'z' has no prediction" in err
    assert f'{gt}:3: expected an object' in err


def test_cli_allow_missing_scores_intersection(tmp_path, capsys,
                                               monkeypatch):
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    pred = _write(tmp_path / 'pred.jsonl', [
        dict(id='a', report='the lungs are clear'),
        dict(id='c', report='extra')
    ])
    gt = _write(tmp_path / 'gt.jsonl', [
        dict(id='a', report='the lungs are clear'),
        dict(id='z', report='no prediction'),
        dict(id='y', report='no prediction either')
    ])
    proc = _cli(capsys, pred, gt, '--allow-missing')
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


# Reports with capitals, commas, a newline and spacing that the protocols
# treat differently.
PROTOCOL_REFERENCES = {
    'a': 'The lungs are clear, without focal consolidation. No effusion.',
    'b': 'Heart size is normal.  Mediastinal contours, hila are normal.',
    'c': 'Left basilar opacity, likely atelectasis.\nNo pneumothorax.',
    'd': 'Moderate cardiomegaly. Small bilateral effusions.',
}
PROTOCOL_PREDICTIONS = {
    'a': 'the lungs are clear. no effusion.',
    'b': 'Heart size is normal. Mediastinal contours, hila are normal.',
    'c': 'Left basilar opacity. No pneumothorax.',
    'd': '',
}
# what RGRG's compute_cider_df reads: validation references
VALIDATION_REPORTS = [
    'The lungs are clear. No pleural effusion or pneumothorax.',
    'Heart size is normal. The lungs are clear.',
    'Small left pleural effusion, left basilar atelectasis.',
]


def _rgrg_scores(preds, refs):
    """RGRG's compute_NLG_scores, written out from its code: pycocoevalcap
    on re.sub(' +', ' ', text.replace('.', ' .')) and its CustomCiderScorer
    (pycocoevalcap's compute_cider with the table compute_cider_df builds
    from lower-cased, wordpunct-tokenised validation references)."""
    import re

    import numpy as np
    from nltk.tokenize import wordpunct_tokenize
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    def convert(texts):
        return {str(n): [re.sub(' +', ' ', t.replace('.', ' .'))]
                for n, t in enumerate(texts)}

    ids = sorted(refs)
    gts = convert([refs[i] for i in ids])
    res = convert([preds[i] for i in ids])
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor, _ = Meteor().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    df_scorer = CiderScorer(refs=[
        ' '.join(wordpunct_tokenize(r.lower())) for r in VALIDATION_REPORTS])
    df_scorer.compute_doc_freq()
    scorer = CiderScorer(n=4, sigma=6.0)
    for key in gts:
        scorer += (res[key][0], gts[key])
    scorer.document_frequency = df_scorer.document_frequency
    cider = float(np.mean(scorer.compute_cider()))
    return dict(bleu_1=bleu[0], bleu_2=bleu[1], bleu_3=bleu[2],
                bleu_4=bleu[3], meteor=meteor, rouge_l=rouge, cider=cider)


def test_rgrg_protocol_equals_rgrg_scoring_code(monkeypatch):
    from crrg.evaluation.metrics.report_metric import prepare_report
    # RGRG's tokenisation: case kept, commas on their words, dots split off
    assert prepare_report('The lungs,  heart are clear.\nNo effusion.',
                          'rgrg') == 'The lungs, heart are clear . No ' \
        'effusion .'
    preds = {k: v.replace('\n', ' ') for k, v in PROTOCOL_PREDICTIONS.items()}
    refs = {k: v.replace('\n', ' ') for k, v in PROTOCOL_REFERENCES.items()}
    ours = score_reports(PROTOCOL_PREDICTIONS, PROTOCOL_REFERENCES, 'rgrg')
    theirs = _rgrg_scores(preds, refs)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    # the protocols differ on these reports (capitals, commas); one METEOR
    # (Java) run per protocol is enough
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    r2gen = score_reports(PROTOCOL_PREDICTIONS, PROTOCOL_REFERENCES, 'r2gen')
    assert abs(r2gen['bleu_1'] - ours['bleu_1']) > 0.01
    assert abs(r2gen['rouge_l'] - ours['rouge_l']) > 0.01
    # RGRG's CIDEr does not depend on the df corpus (every df is 1) but does
    # differ from the corpus mode
    corpus = score_reports(PROTOCOL_PREDICTIONS, PROTOCOL_REFERENCES,
                           'none')['cider']
    assert ours['cider'] != pytest.approx(corpus)


@pytest.mark.parametrize('protocol,dataset', [('none', 'mimic_cxr'),
                                              ('r2gen', 'iu_xray'),
                                              ('r2gen', 'mimic_cxr')])
def test_other_protocols_equal_pycocoevalcap(protocol, dataset, monkeypatch):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    # METEOR's Java run is checked in the r2gen and rgrg agreement tests
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)

    def prepare(text):
        if protocol == 'none':
            return ' '.join(text.split())
        return clean_report(text, dataset)

    gts = {k: [prepare(v)] for k, v in PROTOCOL_REFERENCES.items()}
    res = {k: [prepare(v)] for k, v in PROTOCOL_PREDICTIONS.items()}
    ours = score_reports(PROTOCOL_PREDICTIONS, PROTOCOL_REFERENCES, protocol,
                         dataset)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [ours[f'bleu_{n}'] for n in range(1, 5)] == pytest.approx(bleu)
    assert ours['rouge_l'] == pytest.approx(
        Rouge().compute_score(gts, res)[0])
    assert ours['cider'] == pytest.approx(Cider().compute_score(gts, res)[0])


def test_protocol_errors_and_metric_key(monkeypatch):
    from crrg.evaluation import ReportGenerationMetric
    with pytest.raises(ValueError, match="one of \\('r2gen'"):
        score_reports({'1': 'a'}, {'1': 'a'}, 'chen')
    with pytest.raises(ValueError, match='r2gen_dataset'):
        ReportGenerationMetric(r2gen_dataset='mimic')
    with pytest.raises(ValueError, match='without a corpus'):
        ReportGenerationMetric(protocol='rgrg', cider_df_file='val.jsonl')
    with pytest.raises(ValueError, match="drop the CIDEr"):
        score_reports({'1': 'a'}, {'1': 'a'}, 'rgrg', cider_df_corpus=['a'])
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    for kwargs, name in [(dict(protocol='rgrg'), 'rgrg'),
                         (dict(r2gen_dataset='iu_xray'), 'r2gen:iu_xray'),
                         (dict(protocol='none'), 'none')]:
        evaluator = Evaluator(dict(type='ReportGenerationMetric', **kwargs))
        evaluator.process([dict(pred_report=PROTOCOL_PREDICTIONS[k],
                                gt_report=PROTOCOL_REFERENCES[k])
                           for k in sorted(PROTOCOL_REFERENCES)])
        metrics = evaluator.evaluate(len(PROTOCOL_REFERENCES))
        assert metrics['report/protocol'] == name


def test_configs_say_which_protocol_they_score_with():
    from mmengine.config import Config

    from crrg.evaluation.report_files import config_report_protocol
    expected = {
        'configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py':
        ('rgrg', 'mimic_cxr'),
        'configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_base_imagenome'
        '.py': ('rgrg', 'mimic_cxr'),
        'configs/_base_/datasets/iu_xray_report.py': ('r2gen', 'iu_xray'),
        'configs/_base_/datasets/mimic_cxr_r2gen_report.py':
        ('r2gen', 'mimic_cxr'),
    }
    for path, protocol in expected.items():
        cfg = Config.fromfile(osp.join(ROOT, path))
        assert config_report_protocol(cfg) == protocol, path


def test_cli_protocol(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr('pycocoevalcap.meteor.meteor.Meteor', _NoMeteor)
    ids = sorted(PROTOCOL_REFERENCES)
    pred = _write(tmp_path / 'pred.jsonl',
                  [dict(id=i, report=PROTOCOL_PREDICTIONS[i]) for i in ids])
    gt = _write(tmp_path / 'gt.jsonl',
                [dict(id=i, report=PROTOCOL_REFERENCES[i]) for i in ids])
    out = tmp_path / 'metrics.json'
    proc = _cli(capsys, pred, gt, '--protocol', 'rgrg', '--no-rules',
                '--out', out)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    assert metrics['report/protocol'] == 'rgrg'
    expected = score_reports(PROTOCOL_PREDICTIONS, PROTOCOL_REFERENCES,
                             'rgrg')
    assert metrics['report/bleu_4'] == pytest.approx(expected['bleu_4'])
    assert '| report/protocol | rgrg |' in proc.stdout
    proc = _cli(capsys, pred, gt, '--protocol', 'rgrg', '--cider-df', gt)
    assert proc.returncode == 2 and 'without a corpus' in proc.stderr
