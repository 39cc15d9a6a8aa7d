"""RGRG's checkpoint, converted, through every crrg tool: a checkpoint in the
layout of the authors' file (every key of the manifest recorded from their
model, tiny shapes of configs/rgrg/rgrg_tiny_synthetic.py, seeded random
values) converted with tools/model_converters/rgrg_to_crrg.py as a user runs
it, then tools/test.py on the synthetic twin, tools/infer.py
on the real pydicom-data radiograph and the web demo's analysis
(the session tools/demo_app.py serves), each in the exact (fp32) and the fast
(bf16 / int8) profile; the tools run in this process as their command lines
run them (the converter's refusals as a subprocess are tested in
tests/test_utils/test_rgrg_converter.py)."""
import json
import pickle
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from crrg.apis.demo import SHOW_SELECTED
from crrg.models.report_generators import RegionGuidedReportGenerator
from crrg.models.utils.tokenizer_training import train_report_tokenizer
from crrg.structures import NUM_REGIONS
from crrg.testing.real_data import real_data_file_or_skip
from crrg.testing.tiny_rgrg import TINY_RGRG_CONFIG, rgrg_tiny_state_dict

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / TINY_RGRG_CONFIG)
MANIFEST = REPO / 'tests' / 'data' / 'rgrg_checkpoint_manifest.json'


def run_tool(name, *args):
    """``python tools/<name>.py ARGS`` in this process (its ``__main__``);
    returns the exit code."""
    argv = sys.argv
    sys.argv = [f'tools/{name}.py', *map(str, args)]
    try:
        runpy.run_path(str(REPO / 'tools' / f'{name}.py'),
                       run_name='__main__')
    except SystemExit as exc:
        return exc.code or 0
    finally:
        sys.argv = argv
    return 0


@pytest.fixture(scope='module')
def converted(tmp_path_factory, synthetic_twin):
    """(work dir, converted checkpoint, tokenizer option, the authors'-
    layout state dict): the twin's region sentences train the tokenizer."""
    from mmengine.config import Config
    root, _ = synthetic_twin
    work = tmp_path_factory.mktemp('rgrg_converted')
    tokenizer = str(work / 'tokenizer')
    train_report_tokenizer(
        ['the heart size is normal.', 'no pleural effusion.',
         'there is a small left pleural effusion.',
         'opacity in the right lower lung zone.'] * 10,
        tokenizer, vocab_size=300)
    from transformers import GPT2TokenizerFast
    vocab = len(GPT2TokenizerFast.from_pretrained(tokenizer))
    cfg = Config.fromfile(CONFIG)
    with open(MANIFEST) as f:
        state = rgrg_tiny_state_dict(json.load(f), cfg, vocab, seed=0)
    source = work / 'full_model_checkpoint_tiny.pt'
    torch.save(dict(model=state, current_epoch=3, overall_steps=100),
               source)
    checkpoint = work / 'rgrg_converted.pth'
    assert run_tool('model_converters/rgrg_to_crrg', source, checkpoint) == 0
    return work, checkpoint, f'model.generator.tokenizer={tokenizer}', state


def test_the_converter_takes_the_tiny_authors_layout(converted):
    _, checkpoint, _, state = converted
    assert 'language_model.gpt2_blocks.1.1.uk.weight' in state
    assert 'object_detector.rpn.head.conv.0.0.weight' in state
    assert state['language_model.wte.weight'] is state[
        'language_model.gpt_with_lm_head.transformer.wte.weight']
    out = torch.load(checkpoint, weights_only=True)
    assert out['meta']['converted_from'].startswith('ttanida/rgrg')
    weights = out['state_dict']
    cls = state['object_detector.roi_heads.box_predictor.cls_score.weight']
    fc_cls = weights['detector.detector.roi_head.bbox_head.fc_cls.weight']
    assert torch.equal(fc_cls, torch.cat([cls[1:], cls[:1]]))
    assert torch.equal(
        weights['generator.key_maps.1.weight'],
        state['language_model.gpt.h.1.attn.uk.weight'])


def run_test_tool(config, checkpoint, work, name, options):
    """tools/test.py in this process (as tests/test_tools/test_test_tool.py
    runs it); returns the metrics and the dumped predictions."""
    out = work / f'{name}.pkl'
    assert run_tool('test', config, checkpoint, '--work-dir',
                    work / f'run_{name}', '--out', out, '--table-dir',
                    work / f'table_{name}', '--no-ce', *options) == 0
    metrics = json.loads(
        (work / f'table_{name}' / 'metrics.json').read_text())['metrics']
    with open(out, 'rb') as f:
        return metrics, pickle.load(f)


def check_twin_predictions(samples):
    assert len(samples) == 4  # the twin's test split
    for sample in samples:
        regions = sample['pred_regions']
        assert regions['bboxes'].shape == (NUM_REGIONS, 4)
        assert torch.isfinite(regions['bboxes']).all()
        height, width = sample['ori_shape']
        assert (regions['bboxes'][:, 2::2] <= width).all()
        assert (regions['bboxes'][:, 3::2] <= height).all()
        assert regions['detected'].any() and regions['selected'].any()
        assert isinstance(sample['pred_report'], str)
        assert sample['pred_report'] != ''


@pytest.mark.parametrize('profile', ['exact', 'fast'])
def test_tools_test_on_the_twin(converted, synthetic_twin, profile,
                                monkeypatch):
    """The converted model on the twin's test split, scored for region
    selection (the report metrics' Java tokenizer takes ~20 s: the slow
    test below runs the config's own evaluators)."""
    work, checkpoint, tokenizer, _ = converted
    root, _ = synthetic_twin
    config = work / 'rgrg_tiny_selection_only.py'
    config.write_text(f"_base_ = '{CONFIG}'\n"
                      "test_evaluator = [dict(type='RegionSelectionMetric')]\n")
    applied = []
    set_profile = RegionGuidedReportGenerator.set_inference_profile
    monkeypatch.setattr(
        RegionGuidedReportGenerator, 'set_inference_profile',
        lambda model, name: applied.append(name) or set_profile(model, name))
    metrics, samples = run_test_tool(
        config, checkpoint, work, profile,
        ['--profile', profile, '--cfg-options', tokenizer,
         f'test_dataloader.dataset.data_root={root}/'])
    assert applied == [profile]
    assert 0 <= metrics['selection/f1_micro'] <= 1
    check_twin_predictions(samples)


@pytest.mark.slow
def test_tools_test_scores_reports_as_rgrg(converted, synthetic_twin):
    work, checkpoint, tokenizer, _ = converted
    root, _ = synthetic_twin
    metrics, samples = run_test_tool(
        CONFIG, checkpoint, work, 'full',
        ['--cfg-options', tokenizer,
         f'test_dataloader.dataset.data_root={root}/'])
    assert metrics['report/protocol'] == 'rgrg'
    assert 0 <= metrics['report/bleu_4'] <= 1
    assert 0 <= metrics['selection/f1_micro'] <= 1
    check_twin_predictions(samples)


@pytest.mark.parametrize('profile', ['exact', 'fast'])
def test_tools_infer_on_the_real_dicom(converted, profile):
    work, checkpoint, tokenizer, _ = converted
    dicom = real_data_file_or_skip('RG1_UNCR')
    out = work / f'infer_{profile}'
    assert run_tool('infer', CONFIG, checkpoint, dicom, '--out', out,
                    '--profile', profile, '--cfg-options', tokenizer) == 0
    (result, ) = out.glob('*.json')
    pred = json.loads(result.read_text())
    assert pred['status'] == 'ok'
    height, width = pred['ori_shape']
    assert min(height, width) > 512  # the radiograph's own pixels
    regions = pred['regions']
    assert len(regions) == NUM_REGIONS
    boxes = np.array([r['bbox'] for r in regions])
    assert np.isfinite(boxes).all() and (boxes[:, 2] <= width).all()
    assert any(r['selected'] for r in regions)
    assert 'abnormal' in regions[0]  # RGRG's abnormality classifier shown
    assert pred['report'] != ''


@pytest.mark.parametrize('profile', ['exact', 'fast'])
def test_web_demo_analysis(converted, profile):
    """The web demo's session (what tools/demo_app.py builds from CONFIG
    CHECKPOINT --profile) analyses the real DICOM."""
    from mmengine.config import Config

    from crrg.apis import ReportInferencer
    from crrg.apis.demo import DemoSession
    work, checkpoint, tokenizer, _ = converted
    dicom = real_data_file_or_skip('RG1_UNCR')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict([tokenizer.split('=', 1)]))
    session = DemoSession(
        ReportInferencer(cfg, str(checkpoint), profile=profile), None)
    model = session.inferencer.model
    assert model.generator.inference_precision == (
        'int8' if profile == 'fast' else 'fp32')
    state = session.analyse(dicom)
    assert state['prediction']['status'] == 'ok'
    rows = session.table(state, SHOW_SELECTED)
    assert rows and len(rows) == sum(
        r['selected'] for r in state['prediction']['regions'])
    image = session.render(state, SHOW_SELECTED)
    assert image.ndim == 3 and image.shape[2] == 3
