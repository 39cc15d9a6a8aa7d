import copy

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from crrg.models.utils import train_report_tokenizer
from crrg.models.report_generators import assemble_report
from crrg.registry import MODELS
from crrg.utils.setup_env import register_all_modules

register_all_modules()
SENTENCES = ['the heart is normal in size.', 'no pleural effusion.',
             'right lower lobe opacity.']


def test_assemble_report_order_and_duplicates():
    counts = {}
    counts[0] = 'No pleural effusion is seen.'
    counts[1] = 'Heart size is normal.'
    counts[2] = 'No pleural effusion is seen.'  # exact duplicate
    # near duplicate (ROUGE-L F1 0.91), longer: it stays, index 0 goes
    counts[3] = 'no pleural effusion is seen here.'
    counts[4] = 'No pneumothorax.'  # F1 0.29 with index 0: kept
    report = assemble_report([counts[i] for i in range(5)])
    assert report == ('Heart size is normal. no pleural effusion is seen '
                      'here. No pneumothorax.')
    # token budget: stop once the count reaches the budget
    report = assemble_report(['a b c.', 'd e.', 'f g h.'],
                             count_tokens=lambda s: len(s.split()),
                             max_tokens=4)
    assert report == 'a b c. d e.'


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    tok = tmp_path_factory.mktemp('tok')
    train_report_tokenizer(SENTENCES * 5, str(tok), vocab_size=300)
    cfg = Config.fromfile('configs/rrg/rrg-generator_tiny_synthetic.py')
    model = cfg.model
    model.generator.tokenizer = str(tok)
    model.generator.gpt2_config = dict(n_layer=1, n_embd=32, n_head=2)
    model.detector.detector.test_cfg.rpn.max_per_img = 50
    model.detector.detector.train_cfg.rpn_proposal.max_per_img = 50
    return model


def make_batch(num=2, size=96):
    samples = []
    for i in range(num):
        s = DetDataSample(metainfo=dict(
            img_id=str(i), img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1., 1.), pad_shape=(size, size),
            batch_input_shape=(size, size),
            region_sentences=[SENTENCES[r % 3] if r % 2 else ''
                              for r in range(29)],
            region_has_sentence=[bool(r % 2) for r in range(29)],
            region_abnormal=[False] * 29, gt_report='x'))
        gt = InstanceData()
        gt.bboxes = torch.tensor([[10., 10., 50., 60.]] * 29)
        gt.labels = torch.arange(29)
        s.gt_instances = gt
        samples.append(s)
    return torch.randn(num, 3, size, size), samples


@pytest.mark.parametrize('stage', ['detector', 'selector', 'generator'])
def test_stage_switches(cfg, stage):
    cfg = copy.deepcopy(cfg)
    cfg.train_detector = stage == 'detector'
    cfg.train_selector = stage == 'selector'
    cfg.train_generator = stage == 'generator'
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    parts = dict(detector=model.detector, selector=model.selector,
                 generator=model.generator)
    for name, part in parts.items():
        assert part.training == (name == stage)
    before = {n: [p.clone() for p in m.state_dict().values()
                  if p.dtype.is_floating_point]
              for n, m in parts.items()}
    inputs, samples = make_batch()
    losses = model(inputs, samples, mode='loss')
    key = dict(detector='loss_rpn_cls', selector='loss_selection',
               generator='loss_lm')[stage]
    assert key in losses
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1)
    total.backward()
    opt.step()
    for name, part in parts.items():
        after = [p for p in part.state_dict().values()
                 if p.dtype.is_floating_point]
        same = all(torch.equal(a, b) for a, b in zip(before[name], after))
        assert same == (name != stage), name


def test_predict_fills_contract(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.selector.threshold = -1e9  # select every detected region
    model = MODELS.build(cfg).eval()
    inputs, samples = make_batch()
    out = model(inputs, samples, mode='predict')
    for s in out:
        regions = s.pred_regions
        assert len(regions) == 29
        assert torch.equal(regions.selected, regions.detected)
        assert len(regions.sentences) == 29
        assert all(bool(t) == bool(sel) or t == ''
                   for t, sel in zip(regions.sentences, regions.selected))
        assert isinstance(s.pred_report, str)
        assert len(s.pred_instances) == int(regions.detected.sum())
        d = s.to_dict()
        assert 'pred_report' in d and 'region_has_sentence' in d


def test_predictions_are_in_original_pixels(cfg):
    """The same input under two scale factors: boxes in each original."""
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg)).eval()
    inputs, samples = make_batch(num=1)
    (same, ) = model(inputs, copy.deepcopy(samples), mode='predict')
    for s in samples:
        s.set_metainfo(dict(scale_factor=(0.5, 0.25), ori_shape=(384, 192)))
    (scaled, ) = model(inputs, samples, mode='predict')
    expected = same.pred_regions.bboxes * torch.tensor([2., 4., 2., 4.])
    expected[:, 0::2] = expected[:, 0::2].clamp(max=192)
    torch.testing.assert_close(scaled.pred_regions.bboxes, expected)
    detected = same.pred_regions.detected
    torch.testing.assert_close(scaled.pred_instances.bboxes,
                               expected[detected])
    regions = model(inputs, samples, mode='tensor')
    assert regions.bboxes.shape == (1, 29, 4)
    assert (regions.bboxes <= 96).all()  # pipeline pixels


@pytest.mark.slow
def test_real_size_generator_stage():
    """Real-size architecture (R50-FPN 512², GPT-2-medium shape, random
    weights): one generator-stage training step and one generation. ~30 s."""
    cfg = Config.fromfile(
        'configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py'
    ).model
    cfg.detector.detector.backbone.init_cfg = None
    cfg.detector.detector.test_cfg.rpn.max_per_img = 100
    cfg.generator.pretrained = None
    cfg.generator.gpt2_config = dict(n_layer=24, n_embd=1024, n_head=16)
    cfg.generator.max_new_tokens = 3
    cfg.generator.num_beams = 1
    import tempfile
    with tempfile.TemporaryDirectory() as tok:
        train_report_tokenizer(SENTENCES * 5, tok, vocab_size=300)
        cfg.generator.tokenizer = tok
        model = MODELS.build(cfg)
    model.train()
    inputs, samples = make_batch(num=1, size=512)
    for s in samples:
        s.set_metainfo(dict(region_has_sentence=[r < 2 for r in range(29)]))
    losses = model(inputs, samples, mode='loss')
    losses['loss_lm'].backward()
    model.eval()
    model.selector.threshold = -1e9
    model.detector.detector.test_cfg.rpn.max_per_img = 10
    out = model(inputs, samples, mode='predict')
    assert isinstance(out[0].pred_report, str)


def test_abnormality_classifier_trains_and_is_only_shown(cfg):
    """RGRG's abnormality classifier: its own BCE on ``region_abnormal``
    (detected regions); at inference its flags are kept in ``pred_regions``
    and the sentences are those of the same model without it."""
    cfg = copy.deepcopy(cfg)
    cfg.selector.threshold = -1e9
    cfg.abnormality = dict(
        type='RegionAbnormalityClassifier', in_channels=256, pos_weight=6.0,
        threshold=-1.0)
    cfg.train_abnormality = True
    cfg.train_generator = False
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    cfg.abnormality = None
    plain = MODELS.build(cfg)
    plain.load_state_dict(model.state_dict(), strict=False)
    model.train()
    inputs, samples = make_batch()
    for s in samples:
        s.set_metainfo(dict(region_abnormal=[r < 5 for r in range(29)]))
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_abnormal'].requires_grad
    assert 'loss_lm' not in losses
    model.eval()
    out = model(inputs, copy.deepcopy(samples), mode='predict')
    ref = plain.eval()(inputs, copy.deepcopy(samples), mode='predict')
    for got, want in zip(out, ref):
        regions = got.pred_regions
        logits = regions.abnormal_scores
        assert logits.shape == (29, )
        assert torch.equal(regions.abnormal,
                           (logits > -1) & regions.detected)
        assert regions.sentences == want.pred_regions.sentences
        assert got.pred_report == want.pred_report


def test_report_assembler_gets_the_selected_sentences(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.selector.threshold = -1e9
    cfg.report_assembler = dict(type='RGRGReportAssembler',
                                spacy_model='x', bertscore_model='y')
    model = MODELS.build(cfg).eval()
    seen = []
    model.report_assembler.split = lambda text: seen.append(text) or [text]
    inputs, samples = make_batch(num=1)
    (out, ) = model(inputs, samples, mode='predict')
    regions = out.pred_regions
    chosen = [t for t, s in zip(regions.sentences, regions.selected) if s]
    assert seen == [' '.join(chosen)]
    assert out.pred_report == ' '.join(chosen)


def test_region_rows_show_the_abnormality_flags():
    from crrg.apis.report_inferencer import region_dicts
    regions = InstanceData(
        bboxes=torch.zeros(29, 4), scores=torch.ones(29),
        detected=torch.ones(29, dtype=torch.bool),
        selection_scores=torch.zeros(29),
        selected=torch.zeros(29, dtype=torch.bool), sentences=[''] * 29)
    assert 'abnormal' not in region_dicts(regions)[0]
    regions.abnormal_scores = torch.linspace(-2, 2, 29)
    regions.abnormal = regions.abnormal_scores > -1
    rows = region_dicts(regions)
    assert rows[0]['abnormal'] is False and rows[-1]['abnormal'] is True
    assert rows[-1]['abnormal_score'] == 2.0
