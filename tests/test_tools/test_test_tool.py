"""tools/test.py: strict loading, --out, one metric table; R-CLIP testing."""
import json
import os.path as osp
import pickle
import runpy
import sys

import pytest
import torch
from mmengine.config import Config

from crrg.registry import MODELS
from crrg.testing import make_synthetic_rsna, train_wordpiece_tokenizer
from crrg.utils import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP_CFG = osp.join(ROOT, 'configs/rclip/rclip_tiny_synthetic.py')
ZERO_SHOT_CFG = osp.join(ROOT,
                         'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py')


def run_test_tool(*args):
    argv = sys.argv
    sys.argv = ['tools/test.py', *map(str, args)]
    try:
        runpy.run_path(osp.join(ROOT, 'tools/test.py'), run_name='__main__')
    finally:
        sys.argv = argv


@pytest.fixture(scope='module')
def clip_setup(synthetic_twin, tmp_path_factory):
    root, _ = synthetic_twin
    work = tmp_path_factory.mktemp('rclip_test')
    tokenizer = str(work / 'tokenizer')
    train_wordpiece_tokenizer(
        ['the heart is normal', 'small left pleural effusion',
         'no pneumothorax', 'opacity in the right lower lung zone'] * 10,
        tokenizer, vocab_size=200)
    options = [
        f'model.text_encoder.tokenizer={tokenizer}',
        f'test_dataloader.dataset.data_root={root}/',
        'test_dataloader.batch_size=4'
    ]
    cfg = Config.fromfile(CLIP_CFG)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options[:1]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = str(work / 'rclip.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return work, checkpoint, options, model


def test_rclip_retrieval_with_out_and_metric_table(clip_setup, capsys):
    work, checkpoint, options, _ = clip_setup
    out = work / 'preds.pkl'
    run_test_tool(CLIP_CFG, checkpoint, '--work-dir', work / 'run',
                  '--out', out, '--table-dir', work / 'table',
                  '--cfg-options', *options)
    table = json.loads((work / 'table' / 'metrics.json').read_text())
    metrics = table['metrics']
    for key in ('i2t_R@1', 'i2t_R@5', 'i2t_R@10', 't2i_R@1', 'mean_R@10'):
        assert 0.0 <= metrics[f'retrieval/{key}'] <= 1.0
    # 4 test studies: everything is within the top 5
    assert metrics['retrieval/i2t_R@5'] == 1.0
    assert '| retrieval/i2t_R@1 |' in (work / 'table' / 'metrics.md'
                                       ).read_text()
    assert 'retrieval/t2i_R@10' in capsys.readouterr().out
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 4
    assert dumped[0]['image_embedding'].shape == (64, )
    assert dumped[0]['text_embedding'].shape == (64, )


def test_strict_loading_and_allow_partial(clip_setup):
    work, _, options, model = clip_setup
    state = model.state_dict()
    state.pop('logit_scale')
    state['extra.weight'] = torch.zeros(1)
    partial = str(work / 'partial.pth')
    torch.save({'state_dict': state}, partial)
    with pytest.raises(CheckpointMismatchError) as err:
        run_test_tool(CLIP_CFG, partial, '--work-dir', work / 'strict',
                      '--cfg-options', *options)
    # the wording of the summary is reliab's loader's (tests/test_utils);
    # here: both keys are named and the way out is given
    message = str(err.value)
    assert 'missing' in message and 'logit_scale' in message
    assert 'extra.weight' in message and '--allow-partial' in message
    run_test_tool(CLIP_CFG, partial, '--allow-partial', '--work-dir',
                  work / 'partial', '--table-dir', work / 'partial_table',
                  '--cfg-options', *options)
    assert (work / 'partial_table' / 'metrics.json').is_file()


def test_out_must_be_a_pickle(clip_setup):
    work, checkpoint, options, _ = clip_setup
    with pytest.raises(SystemExit):
        run_test_tool(CLIP_CFG, checkpoint, '--out', work / 'preds.json')


def test_rclip_zero_shot_rsna(clip_setup, tmp_path):
    _, checkpoint, options, _ = clip_setup
    make_synthetic_rsna(str(tmp_path / 'rsna'), num_patients=60,
                        image_size=64)
    run_test_tool(ZERO_SHOT_CFG, checkpoint, '--work-dir', tmp_path / 'run',
                  '--table-dir', tmp_path / 'table', '--cfg-options',
                  options[0], f'test_dataloader.dataset.data_root='
                  f'{tmp_path}/rsna/')
    metrics = json.loads(
        (tmp_path / 'table' / 'metrics.json').read_text())['metrics']
    assert 0.0 <= metrics['binary/auc'] <= 1.0
    assert 0.0 <= metrics['binary/accuracy'] <= 1.0


def test_report_evaluators_get_ce_and_the_table_shows_published_rows():
    import argparse

    from crrg.evaluation import (ClinicalEfficacyMetric,
                                 ReportGenerationMetric)
    from crrg.evaluation.summary import format_metric_table
    tool = runpy.run_path(osp.join(ROOT, 'tools/test.py'))
    args = argparse.Namespace(no_ce=False, chexbert=None, radgraph=None)
    metrics = [ReportGenerationMetric(pred_key='pred', gt_key='ref')]
    tool['add_report_metrics'](metrics, args)
    assert len(metrics) == 2 and isinstance(metrics[1],
                                            ClinicalEfficacyMetric)
    assert (metrics[1].pred_key, metrics[1].gt_key) == ('pred', 'ref')
    tool['add_report_metrics'](metrics, args)  # already there: not twice
    assert len(metrics) == 2
    args.no_ce = True
    metrics = [ReportGenerationMetric()]
    tool['add_report_metrics'](metrics, args)
    assert len(metrics) == 1
    table = format_metric_table(
        {'report/bleu_1': 0.5, 'report/cider': 1.25,
         'report/protocol': 'r2gen:mimic_cxr',
         'ce_rules/f1_micro5_unc-pos': 0.25}, 'tiny RRG')
    rows = {line.split(' | ')[0].lstrip('| '): line
            for line in table.splitlines() if line.startswith('| ')}
    assert rows['model'].startswith('| model | protocol | BLEU-1 |')
    assert '| rgrg | 0.373 |' in rows['RGRG (Tanida et al., 2023)']
    assert '0.547' in rows['RGRG (Tanida et al., 2023)']
    assert '| r2gen:mimic_cxr | 0.500 |' in rows['tiny RRG']
    assert '| 0.250 |' in rows['tiny RRG']
    assert '| ce_rules/f1_micro5_unc-pos | 0.2500 |' in table
    assert "this run with 'r2gen:mimic_cxr'" in table
    same = format_metric_table(
        {'report/bleu_1': 0.5, 'report/protocol': 'rgrg'}, 'tiny RRG')
    assert 'not comparable' not in same


@pytest.mark.slow
@pytest.mark.parametrize('precision', ['fp32', 'int8'])
def test_report_generator_out_and_ce_table(synthetic_twin, tmp_path,
                                           monkeypatch, precision):
    # a report generator through the whole tool: strict load, --out dump of
    # the generated reports, rule-based CE beside the report metrics; and
    # the documented switch of the fast path, as a --cfg-options
    from crrg.models.decoding.fast_gpt2 import GPT2Decoder, native_int8_ops
    from crrg.testing import train_report_tokenizer
    decoders = []
    generate = GPT2Decoder.generate

    def spy(self, *args, **kwargs):
        decoders.append((self.precision, self.native is not None))
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(GPT2Decoder, 'generate', spy)
    root, _ = synthetic_twin
    gen_cfg = osp.join(ROOT, 'configs/rrg/rrg-generator_tiny_synthetic.py')
    tokenizer = str(tmp_path / 'bpe')
    train_report_tokenizer(
        ['The right lung is clear.', 'There is a small left effusion.',
         'The cardiac silhouette is enlarged.'] * 5, tokenizer,
        vocab_size=300)
    options = [f'model.generator.tokenizer={tokenizer}'] + [
        f'{split}_dataloader.dataset.data_root={root}/'
        for split in ('train', 'val', 'test')
    ]
    if precision != 'fp32':
        options.append(f'model.generator.inference_precision={precision}')
    cfg = Config.fromfile(gen_cfg)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'rrg.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = str(tmp_path / 'preds.pkl')
    run_test_tool(gen_cfg, checkpoint, '--out', out, '--work-dir',
                  tmp_path / 'work', '--table-dir', tmp_path / 'table',
                  '--cfg-options', *options)
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) > 0
    assert all(isinstance(d['pred_report'], str) and d['gt_report']
               for d in dumped)
    metrics = json.loads((tmp_path / 'table' / 'metrics.json').read_text())
    metrics = metrics.get('metrics', metrics)
    for key in ('report/bleu_4', 'report/cider', 'selection/f1_micro',
                'ce_rules/f1_micro5_unc-pos',
                'ce_rules/f1_example14_unc-neg'):
        assert 0 <= metrics[key] <= (10 if 'cider' in key else 1), key
    table = (tmp_path / 'table' / 'metrics.md').read_text()
    assert 'RGRG' in table and 'rrg-generator_tiny_synthetic' in table
    # every report was decoded in the precision asked for, int8 by the
    # compiled step wherever it can be built
    assert decoders and {p for p, _ in decoders} == {precision}
    if precision == 'int8' and native_int8_ops() is not None:
        assert all(native for _, native in decoders)
