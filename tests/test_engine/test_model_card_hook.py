"""The model card: written into every checkpoint by a training run with the
default runtime, read back by the inferencers into every prediction."""
import os.path as osp

import numpy as np
import torch
from fake_report_models import CONFIG, FakeRegionReportModel, chest_like
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from crrg.apis import ReportInferencer
from crrg.engine import RESEARCH_NOTICE, model_card_of
from crrg.engine.hooks.model_card_hook import (UNKNOWN_MODEL, build_model_card,
                                               redact_path)
from crrg.registry import DATASETS, MODELS
from crrg.version import __version__

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@DATASETS.register_module(force=True)
class CardToyDataset(Dataset):
    """Four points under a data root that is never read."""

    def __init__(self, data_root='', ann_file=''):
        self.x = torch.arange(8, dtype=torch.float32).reshape(4, 2)
        self.metainfo = dict(name='toy')

    def __len__(self):
        return 4

    def full_init(self):
        pass

    def __getitem__(self, idx):
        return dict(inputs=self.x[idx])


@MODELS.register_module(force=True)
class CardToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 1)

    def forward(self, inputs, mode='tensor'):
        out = self.net(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def test_redact_path():
    assert redact_path('data/synthetic/') == 'data/synthetic/'
    assert redact_path('/home/alice/data/mimic') == '.../data/mimic'
    assert redact_path('~/mimic') == '.../~/mimic'
    assert redact_path(None) is None


def test_a_training_run_writes_the_card(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    assert dict(type='ModelCardHook') in cfg.custom_hooks
    secret_root = str(tmp_path / 'private' / 'synthetic_cxr')
    cfg.merge_from_dict(dict(
        model=dict(type='CardToyModel'),
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='RepeatDataset', times=1, dataset=dict(
                type='CardToyDataset', data_root=secret_root,
                ann_file='train.json'))),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        visualizer=dict(type='Visualizer', vis_backends=[])))
    cfg.dump(str(tmp_path / 'card_toy_r18_1x.py'))
    cfg = Config.fromfile(str(tmp_path / 'card_toy_r18_1x.py'))
    Runner.from_cfg(cfg).train()
    checkpoint = torch.load(tmp_path / 'work' / 'epoch_1.pth',
                            weights_only=False)
    card = checkpoint['meta']['model_card']
    assert card['config'] == 'card_toy_r18_1x'
    assert card['model'] == 'CardToyModel'
    assert card['training_data'] == dict(
        dataset='CardToyDataset', wrappers=['RepeatDataset'],
        data_root='.../private/synthetic_cxr', ann_file='train.json')
    assert str(tmp_path) not in repr(card)  # no path of this machine
    assert card['synthetic'] is True
    assert card['crrg_version'] == __version__
    assert card['epoch'] == 1 and card['iteration'] == 2
    assert card['notice'] == RESEARCH_NOTICE
    summary = model_card_of(checkpoint)['summary']
    assert 'card_toy_r18_1x' in summary and 'CardToyDataset' in summary
    assert 'synthetic twin' in summary


def test_the_inferencer_reports_the_card(tmp_path):
    config = tmp_path / 'fake.py'
    config.write_text(CONFIG)
    trained = tmp_path / 'rrg-generator_r50_mimic.py'
    trained.write_text(
        "model = dict(type='FakeRegionReportModel')\n"
        "train_dataloader = dict(dataset=dict(type='ChestImaGenomeDataset', "
        "data_root='data/mimic/'))\n")
    cfg = Config.fromfile(str(trained))
    state = FakeRegionReportModel().state_dict()
    with_card = tmp_path / 'card.pth'
    torch.save(dict(state_dict=state,
                    meta=dict(model_card=build_model_card(cfg, epoch=3))),
               with_card)
    without = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=state, meta={}), without)
    image = chest_like(64, 64)
    pred = ReportInferencer(str(config), str(with_card))(image)[
        'predictions'][0]
    card = pred['model_card']
    assert card['training_data']['dataset'] == 'ChestImaGenomeDataset'
    assert card['synthetic'] is False
    assert card['summary'].startswith('rrg-generator_r50_mimic ')
    assert 'data/mimic/' in card['summary'] and '3 epoch(s)' in card['summary']
    assert card['notice'] == RESEARCH_NOTICE
    plain = ReportInferencer(str(config), str(without))(
        [image, np.zeros((64, 64), np.uint8)])['predictions']
    # refused or not, every prediction says which model made it
    assert [p['status'] for p in plain] == ['ok', 'refused']
    for p in plain:
        assert p['model_card']['summary'].startswith(UNKNOWN_MODEL)
        assert p['model_card']['notice'] == RESEARCH_NOTICE
    random = ReportInferencer(str(config))
    assert 'random weights' in random.model_card['summary']
