"""RGRG's full design at tiny size, from the RGRG config: its
pre-processing on a real-shaped grey image, one box per region mapped back
to the original pixels through the centre padding, selection, the shown
abnormality flags, sentences and report."""
import cv2
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate

from crrg.apis import test_pipeline_cfg as pipeline_cfg
from crrg.registry import MODELS
from crrg.models.utils.tokenizer_training import train_report_tokenizer
from crrg.testing import tiny_rgrg_config
from crrg.utils import register_all_modules

register_all_modules()


def test_tiny_rgrg_predicts_in_original_pixels(tmp_path):
    train_report_tokenizer(['no pleural effusion.', 'the heart is normal.'] *
                           10, str(tmp_path / 'tok'), vocab_size=300)
    cfg = tiny_rgrg_config(str(tmp_path / 'tok'))
    cfg.model.selector.threshold = -1e9  # every detected region
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    assert model.generator.beam_rule == 'rgrg'
    assert model.detector.region_feature == 'roi'
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'xray.png')
    cv2.imwrite(path, rng.integers(0, 256, (700, 420), dtype=np.uint8))
    data = pseudo_collate(
        [Compose(pipeline_cfg(cfg))(dict(img_path=path))])
    data = model.data_preprocessor(data, False)
    assert data['inputs'].shape == (1, 1, 512, 512)
    meta = data['data_samples'][0].metainfo
    assert meta['pad_offset'] == ((512 - 307) // 2, 0)
    with torch.no_grad():
        regions = model(data['inputs'], data['data_samples'], mode='tensor')
        (sample, ) = model(data['inputs'], data['data_samples'],
                           mode='predict')
    pred = sample.pred_regions
    left, top = meta['pad_offset']
    scale_w, scale_h = meta['scale_factor']
    expected = (regions.bboxes[0] - torch.tensor([left, top, left, top])) / \
        torch.tensor([scale_w, scale_h, scale_w, scale_h])
    expected[:, 0::2] = expected[:, 0::2].clamp(0, 420)
    expected[:, 1::2] = expected[:, 1::2].clamp(0, 700)
    torch.testing.assert_close(pred.bboxes, expected)
    assert regions.features.shape == (1, 29, 64)
    assert torch.equal(pred.selected, pred.detected)
    assert torch.equal(pred.abnormal,
                       (pred.abnormal_scores > -1) & pred.detected)
    chosen = [t for t, s in zip(pred.sentences, pred.selected) if s]
    assert len(chosen) == int(pred.selected.sum())
    assert isinstance(sample.pred_report, str)
