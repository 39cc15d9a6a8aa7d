"""ReportInferencer: outputs in original pixels, strict loading, failures."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from crrg.apis import ReportInferencer
from crrg.registry import MODELS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS
from crrg.testing import train_report_tokenizer

SENTENCES = ['the heart is normal in size.', 'no pleural effusion.',
             'right lower lobe opacity.']


@pytest.fixture(scope='module')
def tiny_cfg(tmp_path_factory):
    """The tiny generator config, smaller still, with a tiny tokenizer."""
    tok = tmp_path_factory.mktemp('tok')
    train_report_tokenizer(SENTENCES * 5, str(tok), vocab_size=300)
    cfg = Config.fromfile('configs/rrg/rrg-generator_tiny_synthetic.py')
    cfg.model.generator.tokenizer = str(tok)
    cfg.model.generator.gpt2_config = dict(n_layer=1, n_embd=32, n_head=2)
    cfg.model.generator.max_new_tokens = 4
    cfg.model.detector.detector.test_cfg.rpn.max_per_img = 50
    # every region selected, so every region gets a sentence
    cfg.model.selector.threshold = -100.0
    return cfg


@pytest.fixture(scope='module')
def weights(tiny_cfg, tmp_path_factory):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'rrg.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    # 300 x 200 original: the tiny pipeline resizes the long side to 256
    cv2.imwrite(str(root / 'a.png'),
                rng.integers(0, 255, (300, 200), dtype=np.uint8))
    (root / 'broken.jpg').write_bytes(b'not a jpeg')
    return root


@pytest.fixture(scope='module')
def inferencer(tiny_cfg, weights):
    return ReportInferencer(model=tiny_cfg, weights=str(weights))


def test_predictions_follow_the_interface(inferencer, images):
    out = inferencer(inputs=[str(images / 'a.png')], return_vis=True)
    (pred, ) = out['predictions']
    assert pred['img_path'] == str(images / 'a.png')
    assert pred['ori_shape'] == [300, 200]
    assert pred['warnings'] == []  # the loader's; a PNG has no header
    assert [r['name'] for r in pred['regions']] == list(ANATOMICAL_REGIONS)
    assert [r['index'] for r in pred['regions']] == list(range(NUM_REGIONS))
    assert set(pred['regions'][0]) == {
        'index', 'name', 'bbox', 'score', 'detected', 'selection_score',
        'selected', 'sentence'
    }
    boxes = np.array([r['bbox'] for r in pred['regions']])
    # clipped to the 200-wide, 300-high original
    assert (boxes[:, 0::2] <= 200).all() and (boxes[:, 1::2] <= 300).all()
    detected = [r for r in pred['regions'] if r['detected']]
    assert all(r['selected'] == r['detected'] for r in pred['regions'])
    assert all(isinstance(r['sentence'], str) for r in detected)
    (vis, ) = out['visualization']
    assert vis.dtype == np.uint8 and vis.shape[0] == 300
    assert vis.shape[1] > 200 and vis.shape[2] == 3


def test_boxes_scale_with_the_original_image(inferencer):
    """The same picture at 256 and at 512 pixels (the pipeline resizes both
    to the same 256-pixel input): the boxes come back in each original's
    pixels, twice as large for the larger."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (256, 256), dtype=np.uint8)
    large = cv2.resize(small, (512, 512), interpolation=cv2.INTER_NEAREST)
    out = inferencer(inputs=[small, large], batch_size=2)
    boxes = [np.array([r['bbox'] for r in p['regions']])
             for p in out['predictions']]
    assert out['predictions'][0]['img_path'] is None
    assert out['predictions'][0]['warnings'] == []
    assert out['predictions'][1]['ori_shape'] == [512, 512]
    np.testing.assert_allclose(boxes[0] * 2, boxes[1], rtol=1e-4, atol=1e-2)


def test_strict_loading(tiny_cfg, tmp_path):
    model = MODELS.build(tiny_cfg.model)
    state = model.state_dict()
    dropped = next(k for k in state if k.startswith('selector.'))
    state.pop(dropped)
    path = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(Exception, match='selector'):
        ReportInferencer(model=tiny_cfg, weights=str(path))
    ReportInferencer(model=tiny_cfg, weights=str(path), allow_partial=True)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        ReportInferencer(model=tiny_cfg, weights=str(tmp_path / 'absent.pth'))


def test_failures_raise_or_are_reported(inferencer, images):
    with pytest.raises(Exception, match='broken.jpg'):
        inferencer(inputs=[str(images / 'broken.jpg')])
    out = inferencer(
        inputs=[str(images / 'broken.jpg'), str(images / 'a.png'),
                np.zeros((4, 4), dtype=np.float32)],
        skip_failed=True)
    assert [p['img_path'] for p in out['predictions']] == [
        str(images / 'a.png')]
    failed = {f['input']: f['reason'] for f in out['failures']}
    assert set(failed) == {str(images / 'broken.jpg'), 'array #2'}
    assert failed[str(images / 'broken.jpg')].startswith('unreadable image')
    assert 'uint8' in failed['array #2']
