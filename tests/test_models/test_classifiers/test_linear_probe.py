import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import save_checkpoint
from mmpretrain.structures import DataSample

from crrg.datasets.synthetic import make_synthetic_rsna
from crrg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
TINY = 'configs/linear_probe/probe_tiny_rclip_rsna-1pct_synthetic.py'


def probe_cfg(**backbone):
    return dict(
        type='LinearProbeClassifier',
        backbone=dict(type='mmpretrain.ResNet', depth=18, base_channels=8,
                      **backbone),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='BinaryLinearClsHead', in_channels=64))


def batch(num=4, size=32):
    images = torch.randint(0, 256, (num, 3, size, size), dtype=torch.uint8)
    samples = [DataSample().set_gt_label(i % 2) for i in range(num)]
    return dict(inputs=images, data_samples=samples)


def test_only_the_head_trains_and_batch_norm_stays_frozen():
    model = MODELS.build(probe_cfg())
    model.init_weights()
    model.train()
    assert not model.backbone.training
    frozen = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head = model.head.fc.weight.detach().clone()
    optim = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=0.1)))
    model.train_step(batch(), optim)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, frozen[key]), key  # incl. BN statistics
    assert not torch.equal(head, model.head.fc.weight)


def test_head_is_bce_on_one_logit():
    model = MODELS.build(probe_cfg()).eval()
    data = model.data_preprocessor(batch(), training=False)
    feats = model.extract_feat(data['inputs'])
    logits = model.head(feats)
    labels = torch.tensor([0., 1., 0., 1.])
    loss = model.head.loss(feats, data['data_samples'])['loss']
    torch.testing.assert_close(
        loss, F.binary_cross_entropy_with_logits(logits, labels))
    preds = model.head.predict(feats, data['data_samples'])
    torch.testing.assert_close(
        torch.cat([p.pred_score for p in preds]), logits.sigmoid())


def test_encoder_loads_from_a_clip_checkpoint(tmp_path):
    clip_like = MODELS.build(probe_cfg())  # same backbone structure
    for param in clip_like.backbone.parameters():
        torch.nn.init.normal_(param)
    state = {f'backbone.{k}': v
             for k, v in clip_like.backbone.state_dict().items()}
    state['image_projection.weight'] = torch.zeros(3, 64)
    path = str(tmp_path / 'clip.pth')
    save_checkpoint(dict(state_dict=state), path)
    model = MODELS.build(probe_cfg(init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone.')))
    model.init_weights()
    for key, value in clip_like.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    missing = MODELS.build(probe_cfg(init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'none.pth'),
        prefix='backbone.')))
    with pytest.raises(FileNotFoundError, match='none.pth'):
        missing.init_weights()


def test_real_size_probe_builds_and_steps():
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/linear_probe/probe_r50_random_rsna-1pct.py'))
    assert cfg.train_dataloader.dataset.train_fraction == 0.01
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    log = model.train_step(batch(2, size=224), optim)
    assert torch.isfinite(log['loss'])
    assert model.head.fc.in_features == 2048


@pytest.mark.slow
def test_train_and_test_tools_print_auc_and_accuracy(tmp_path):
    data = str(tmp_path / 'rsna')
    make_synthetic_rsna(data, num_patients=120, seed=0, image_size=64)
    work = str(tmp_path / 'work')
    options = [f'{loader}.dataset.data_root={data}' for loader in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        'model.backbone.init_cfg=None', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'train_dataloader.dataset.train_fraction=0.1']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)

    def run(*args):
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    run('tools/train.py', TINY, '--work-dir', work, '--cfg-options', *options)
    with open(osp.join(work, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    log = run('tools/test.py', TINY, checkpoint, '--work-dir', work,
              '--cfg-options', *options)
    assert 'binary/auc' in log and 'binary/accuracy' in log


def test_missing_encoder_checkpoint_names_the_file(tmp_path):
    cfg = Config.fromfile(
        'configs/linear_probe/probe_r50_imagenet_rsna-1pct.py').model
    missing = str(tmp_path / 'resnet50-11ad3fa6.pth')
    cfg.backbone.init_cfg.checkpoint = missing
    model = MODELS.build(cfg)
    with pytest.raises(FileNotFoundError, match='resnet50-11ad3fa6.pth') as e:
        model.init_weights()
    assert missing in str(e.value) and '--cfg-options' in str(e.value)
