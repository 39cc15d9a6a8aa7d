import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.runner import save_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='session')
def iu_clip(tmp_path_factory):
    """A tiny IU X-ray twin (30 studies, 64 px), a WordPiece vocabulary of its
    reports and a randomly-initialised tiny IU R-CLIP saved as a checkpoint:
    what the IU X-ray plugins need, without work_dirs."""
    from crrg.datasets.synthetic import make_synthetic_iu_xray
    from crrg.models.utils import train_wordpiece_tokenizer
    from crrg.registry import DATASETS, MODELS
    tmp = tmp_path_factory.mktemp('iu_clip')
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
    clip_model = clip_cfg.model.to_dict()

    def configure(cfg: Config) -> Config:
        """Point a plugin config at this CLIP, vocabulary and twin."""
        cfg.model.clip = dict(model=clip_model, checkpoint=checkpoint)
        cfg.model.decoder.tokenizer = tokenizer
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            cfg[loader].dataset.data_root = data_root
            cfg[loader].batch_size = 4
        return cfg

    return SimpleNamespace(tmp=tmp, data_root=data_root, tokenizer=tokenizer,
                           clip=clip, configure=configure)
