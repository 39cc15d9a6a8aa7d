"""projects/clip_directional: the CLIP-directional-loss report generator."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.runner import Runner, save_checkpoint

from crrg.models.utils import train_wordpiece_tokenizer
from crrg.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'projects', 'clip_directional', 'configs')


@pytest.fixture(scope='module')
def setup(iu_clip):
    """The tiny config (8 base channels) on the shared tiny twin and CLIP."""
    cfg = Config.fromfile(osp.join(CONFIGS, 'cdl_tiny_iu-xray_synthetic.py'))
    cfg = iu_clip.configure(cfg)
    cfg.model.backbone.base_channels = 8
    cfg.model.backbone_channels = 64
    return cfg, iu_clip.tmp


def batch(cfg, model, num=4, training=True):
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return model.data_preprocessor(
        default_collate([dataset[i] for i in range(num)]), training=training)


@pytest.mark.parametrize('soft_decoding', ['teacher_forced', 'free_running'])
def test_dir_loss_gradient_reaches_decoder_and_encoder_not_clip(
        setup, soft_decoding):
    cfg, _ = setup
    model = MODELS.build(dict(cfg.model, soft_decoding=soft_decoding))
    model.init_weights()
    model.train()
    losses = model(**batch(cfg, model), mode='loss')
    assert set(losses) == {'loss_ce', 'loss_dir'}
    losses['loss_dir'].backward()  # L_dir alone
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ('decoder.decoder.cls.predictions.transform.dense.weight',
                 'decoder.decoder.bert.encoder.layer.0.crossattention.self.'
                 'query.weight', 'decoder.memory_proj.weight',
                 'backbone.conv1.weight'):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert all(p.grad is None for p in model.clip.parameters())


def test_confident_decoder_gives_the_reference_embedding(setup):
    """One-hot probabilities: the soft report is the reference text, L_dir 0."""
    cfg, _ = setup
    model = MODELS.build(cfg.model).eval()
    data = batch(cfg, model, training=False)
    reports = [s.gt_report for s in data['data_samples']]
    tokens = model.decoder.tokenize(reports)
    targets, mask = tokens['input_ids'][:, 1:], tokens['attention_mask'][:, 1:]
    one_hot = F.one_hot(targets, len(model.decoder.tokenizer)).float() * 1e4
    with torch.no_grad():
        soft = model.soft_text_embedding(one_hot, mask)
        reference = model.clip.encode_text(reports)
    torch.testing.assert_close(soft, reference, atol=1e-5, rtol=1e-4)
    image = model.clip.encode_image(data['inputs'][0])
    from projects.clip_directional.clip_directional import \
        directional_distance
    assert directional_distance(image, reference, soft).abs().max() < 1e-4
    # and a uniform decoder is far from it
    uniform = torch.zeros_like(one_hot)
    with torch.no_grad():
        far = directional_distance(image, reference,
                                   model.soft_text_embedding(uniform, mask))
    assert far.min() > 1e-3


def test_decoder_must_share_the_clip_vocabulary(setup, tmp_path):
    cfg, _ = setup
    train_wordpiece_tokenizer(['other words entirely'] * 5, str(tmp_path), 60)
    bad = cfg.model.copy()
    bad.decoder = dict(cfg.model.decoder, tokenizer=str(tmp_path))
    with pytest.raises(ValueError, match="CLIP text tower's"):
        MODELS.build(bad)


def test_ce_only_baseline_and_runner(setup):
    cfg, tmp = setup
    base = Config.fromfile(osp.join(CONFIGS, 'ce-only_tiny_iu-xray_synthetic.py'))
    assert base.model.dir_loss_weight == 0.0
    cfg = cfg.copy()
    cfg.model.dir_loss_weight = 0.0
    model = MODELS.build(cfg.model)
    assert set(model(**batch(cfg, model), mode='loss')) == {'loss_ce'}
    cfg.model.dir_loss_weight = 1.0
    cfg.work_dir = str(tmp / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.param_scheduler = []
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert 0.0 <= metrics['clip_dir/distance'] <= 2.0
    assert 'report/bleu_4' in metrics and 'report/cider' in metrics


def test_real_size_config_builds_and_runs_one_step(setup):
    """cdl_r50: ResNet-50 encoder, 512-d decoder, R-CLIP-base's ResNet-50
    (its BERT shrunk: the frozen text tower's size is not under test)."""
    from mmengine.optim import build_optim_wrapper
    _, tmp = setup
    tokenizer = str(tmp / 'tokenizer')
    cfg = Config.fromfile(osp.join(CONFIGS, 'cdl_r50_iu-xray.py'))
    assert cfg.model.backbone.depth == 50
    assert cfg.model.decoder.hidden_size == 512
    assert cfg.model.decoder.num_layers == 3 and cfg.model.decoder.num_beams == 3
    clip_cfg = Config.fromfile(osp.join(ROOT, cfg.model.clip.model))
    clip_cfg.model.backbone.init_cfg = None
    clip_cfg.model.text_encoder.update(
        pretrained=None, tokenizer=tokenizer,
        bert_config=dict(hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64))
    checkpoint = str(tmp / 'rclip_r50.pth')
    save_checkpoint(dict(state_dict=MODELS.build(clip_cfg.model).state_dict()),
                    checkpoint)
    cfg.model.clip = dict(model=clip_cfg.model.to_dict(), checkpoint=checkpoint)
    cfg.model.backbone.init_cfg = None
    cfg.model.decoder.tokenizer = tokenizer
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    gen = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (2, 3, 224, 224), generator=gen,
                           dtype=torch.uint8) for _ in range(2)]
    from mmpretrain.structures import DataSample
    samples = [DataSample(metainfo=dict(gt_report=r)) for r in (
        'the heart is normal in size .', 'there is a small left effusion .')]
    log = model.train_step(dict(inputs=views, data_samples=samples), optim)
    assert torch.isfinite(log['loss_ce']) and torch.isfinite(log['loss_dir'])
