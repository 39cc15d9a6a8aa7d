"""projects/retrieval_fusion: retrieval + cross-modal fusion on IU X-ray."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from crrg.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'projects', 'retrieval_fusion', 'configs',
                  'retrieval-fusion_tiny_iu-xray_synthetic.py')


@pytest.fixture(scope='module')
def setup(iu_clip):
    """The tiny config on the shared tiny twin, vocabulary and CLIP."""
    cfg = iu_clip.configure(Config.fromfile(CONFIG))
    cfg.model.retrieval_corpus.data_root = iu_clip.data_root
    cfg.model.decoder.max_length = 20
    return cfg, iu_clip.clip, iu_clip.data_root, iu_clip.tmp


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
