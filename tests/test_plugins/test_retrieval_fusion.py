"""projects/retrieval_fusion: retrieval + cross-modal fusion on IU X-ray."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, save_checkpoint

from crrg.datasets.synthetic import make_synthetic_iu_xray
from crrg.models.heads import train_wordpiece_tokenizer
from crrg.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'projects', 'retrieval_fusion', 'configs',
                  'retrieval-fusion_tiny_iu-xray_synthetic.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny IU twin, a WordPiece vocabulary and a random tiny CLIP."""
    tmp = tmp_path_factory.mktemp('retrieval_fusion')
    data_root = str(tmp / 'iu')
    make_synthetic_iu_xray(data_root, num_studies=30, seed=1, image_size=64)
    corpus = DATASETS.build(dict(type='IUXrayDataset', data_root=data_root))
    tokenizer = str(tmp / 'tokenizer')
    train_wordpiece_tokenizer(
        [corpus.get_data_info(i)['gt_report'] for i in range(len(corpus))],
        tokenizer, vocab_size=200)
    clip_cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'rclip', 'rclip_tiny_iu-xray_synthetic.py'))
    clip_cfg.model.text_encoder.tokenizer = tokenizer
    clip = MODELS.build(clip_cfg.model)
    checkpoint = str(tmp / 'clip.pth')
    save_checkpoint(dict(state_dict=clip.state_dict()), checkpoint)
    cfg = Config.fromfile(CONFIG)
    cfg.model.clip = dict(model=clip_cfg.model.to_dict(), checkpoint=checkpoint)
    cfg.model.retrieval_corpus.data_root = data_root
    cfg.model.decoder.tokenizer = tokenizer
    cfg.model.decoder.max_length = 20
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
        cfg[loader].batch_size = 4
    return cfg, clip, data_root, tmp


def views(cfg, split='train', num=4):
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, split=split))
    from mmengine.dataset import default_collate
    return default_collate([dataset[i] for i in range(num)])


def test_retrieval_excludes_the_query_itself(setup, monkeypatch):
    cfg, _, _, _ = setup
    model = MODELS.build(cfg.model).eval()
    model.build_index()
    calls = []
    monkeypatch.setattr(model, 'build_index', lambda: calls.append(1))
    data = model.data_preprocessor(views(cfg), training=False)
    ids = [str(s.img_id) for s in data['data_samples']]
    own = torch.tensor([model.corpus_ids.index(i) for i in ids])
    # make each query's CLIP image embedding equal its own report's embedding
    monkeypatch.setattr(model.clip, 'encode_image',
                        lambda images: model.corpus_embeddings[own])
    assert torch.equal(model.nearest(data['inputs'][0]), own)
    excluded = model.nearest(data['inputs'][0], exclude_ids=ids)
    assert not (excluded == own).any()
    assert calls == []  # the index was built once


def test_init_weights_keeps_the_loaded_clip(setup):
    cfg, clip, _, _ = setup
    model = MODELS.build(cfg.model)
    model.init_weights()
    for key, value in clip.state_dict().items():
        assert torch.equal(model.clip.state_dict()[key], value), key


def test_gradients_reach_fusion_and_decoder_not_clip(setup):
    cfg, _, _, _ = setup
    model = MODELS.build(cfg.model).train()
    assert not model.clip.training
    data = model.data_preprocessor(views(cfg), training=True)
    loss = model(**data, mode='loss')['loss_ce']
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ('image_proj.weight', 'report_proj.weight', 'fusion.weight',
                 'cross_attn.in_proj_weight',
                 'decoder.memory_proj.weight'):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert all(p.grad is None for p in model.clip.parameters())


def test_train_and_test_with_runner(setup):
    cfg, _, _, tmp = setup
    cfg = cfg.copy()
    cfg.work_dir = str(tmp / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.param_scheduler = []
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for prefix in ('report', 'retrieval'):
        for key in ('bleu_1', 'bleu_4', 'rouge_l', 'meteor', 'cider'):
            assert 0.0 <= metrics[f'{prefix}/{key}'] <= 10.0
    # the retrieved report alone is a training report
    assert metrics['retrieval/bleu_1'] > 0
