"""ReportInferencer: outputs in original pixels, the config's own loader,
one decode per image, strict loading, inference profiles, refusal of images
that are not frontal chest radiographs, failures."""
import copy
import json

import cv2
import numpy as np
import pydicom
import pytest
import torch
from fake_report_models import CONFIG, DECODES, SELECTED, chest_like
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

from crrg.apis import ReportInferencer, dicom_header_check
from crrg.datasets.transforms import LoadResizedImage
from crrg.registry import MODELS, TRANSFORMS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS
from crrg.models.utils import train_report_tokenizer
from crrg.testing.real_data import real_data_file_or_skip
from crrg.datasets.synthetic.rsna import write_dicom
from crrg.utils import CheckpointMismatchError

SENTENCES = ['the heart is normal in size.', 'no pleural effusion.',
             'right lower lobe opacity.']
PREDICTION_KEYS = {'img_path', 'ori_shape', 'status', 'refusal', 'report',
                   'regions', 'warnings', 'model_card'}


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
    # 300 x 200 original: the tiny pipeline resizes the long side to 256
    cv2.imwrite(str(root / 'a.png'), chest_like(300, 200))
    (root / 'broken.jpg').write_bytes(b'not a jpeg')
    return root


@pytest.fixture(scope='module')
def inferencer(tiny_cfg, weights):
    return ReportInferencer(model=tiny_cfg, weights=str(weights))


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A ReportInferencer of the fake model (boxes ``[2i, 2i, 2i + 8,
    2i + 8]`` in its 64 px input) with the counting X-ray loader."""
    config = tmp_path / 'fake.py'
    config.write_text(CONFIG)
    cfg = Config.fromfile(str(config))

    def build(**kwargs):
        return ReportInferencer(model=copy.deepcopy(cfg), **kwargs)

    DECODES.clear()
    return build


def test_predictions_follow_the_interface(inferencer, images):
    out = inferencer(inputs=[str(images / 'a.png')], return_vis=True)
    (pred, ) = out['predictions']
    assert set(pred) == PREDICTION_KEYS
    assert pred['img_path'] == str(images / 'a.png')
    assert pred['ori_shape'] == [300, 200]
    assert pred['status'] == 'ok' and pred['refusal'] is None
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
    json.dumps(out['predictions'])  # JSON-ready
    (vis, ) = out['visualization']
    assert vis.dtype == np.uint8 and vis.shape[0] == 300
    assert vis.shape[1] > 200 and vis.shape[2] == 3


def test_boxes_scale_with_the_original_image(inferencer):
    """The same picture at 256 and at 512 pixels (the pipeline resizes both
    to the same 256-pixel input): the boxes come back in each original's
    pixels, twice as large for the larger."""
    small = chest_like(256, 256, seed=1)
    large = cv2.resize(small, (512, 512), interpolation=cv2.INTER_NEAREST)
    out = inferencer(inputs=[small, large], batch_size=2)
    boxes = [np.array([r['bbox'] for r in p['regions']])
             for p in out['predictions']]
    assert out['predictions'][0]['img_path'] is None
    assert out['predictions'][0]['warnings'] == []
    assert out['predictions'][1]['ori_shape'] == [512, 512]
    np.testing.assert_allclose(boxes[0] * 2, boxes[1], rtol=1e-4, atol=1e-2)


def test_each_image_is_decoded_once(fake, images, tmp_path):
    """One call with a drawing, and a load() result handed to another call:
    the file is decoded once."""
    inferencer = fake()
    path = str(images / 'a.png')
    out = inferencer(path, return_vis=True)
    assert DECODES[path] == 1
    (drawing, ) = out['visualization']
    # the drawing is of the decoded picture (left part: image, right: panel)
    loaded = inferencer.load(path)
    assert DECODES[path] == 2
    original = loaded['img']
    assert drawing.shape[0] == 300 and drawing.shape[1] > 200
    same = np.abs(drawing[:, :200].astype(int) - original).max(axis=2) <= 1
    assert same.mean() > 0.8  # all but the drawn boxes and labels
    again = inferencer([loaded, loaded], return_vis=True)
    assert DECODES[path] == 2  # not decoded again
    assert again['predictions'][0] == out['predictions'][0]


def test_the_config_loader_is_used(fake, tmp_path):
    """A config whose test pipeline decodes JPEGs at the model's size
    (``LoadResizedImage``): the inferencer uses it, the boxes come back in
    the original's pixels and the drawing is at the decoded size."""
    config = tmp_path / 'resized.py'
    config.write_text(CONFIG.replace(
        "dict(type='CountingXrayLoader'),\n", '').replace(
            "dict(type='Resize', scale=(64, 64), keep_ratio=True)",
            "dict(type='LoadResizedImage', scale=(64, 64), keep_ratio=True)"))
    inferencer = ReportInferencer(str(config))
    assert isinstance(inferencer.loader, LoadResizedImage)
    image = tmp_path / 'big.jpg'
    cv2.imwrite(str(image), chest_like(512, 384, seed=2))
    out = inferencer(str(image), return_vis=True)
    (pred, ) = out['predictions']
    assert pred['ori_shape'] == [512, 384]
    # region 3's [6, 6, 14, 14] in the 64 x 48 input -> x8 in the original
    assert pred['regions'][3]['bbox'] == [48.0, 48.0, 112.0, 112.0]
    assert out['visualization'][0].shape[0] == 64  # decoded at 64 x 48
    # an array goes through the loader's resize too
    array = inferencer(chest_like(512, 384))['predictions'][0]
    assert array['regions'][3]['bbox'] == [48.0, 48.0, 112.0, 112.0]


def test_strict_loading_and_checkpoint_uris(tiny_cfg, weights, tmp_path):
    model = MODELS.build(tiny_cfg.model)
    state = model.state_dict()
    dropped = next(k for k in state if k.startswith('selector.'))
    state.pop(dropped)
    path = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointMismatchError, match='selector'):
        ReportInferencer(model=tiny_cfg, weights=str(path))
    ReportInferencer(model=tiny_cfg, weights=str(path), allow_partial=True)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        ReportInferencer(model=tiny_cfg, weights=str(tmp_path / 'absent.pth'))
    # any URI the checkpoint loader reads, e.g. a registered scheme
    reads = []

    @CheckpointLoader.register_scheme(prefixes='crrg-test://', force=True)
    def load_test_scheme(filename, map_location=None):
        reads.append(filename)
        return torch.load(str(weights), map_location=map_location)

    loaded = ReportInferencer(model=tiny_cfg, weights='crrg-test://rrg.pth')
    assert reads == ['crrg-test://rrg.pth']
    assert torch.equal(loaded.model.state_dict()[dropped],
                       torch.load(str(weights))['state_dict'][dropped])


def test_inference_profile_sets_every_switch(tiny_cfg, weights):
    fast = ReportInferencer(tiny_cfg, str(weights), profile='fast')
    assert fast.model.detector.inference_precision == 'bf16'
    assert fast.model.detector.channels_last is True
    assert fast.model.generator.inference_precision == 'int8'
    with pytest.raises(ValueError, match="'turbo'"):
        fast.model.set_inference_profile('turbo')
    fast.model.set_inference_profile('exact')
    assert fast.model.detector.inference_precision == 'fp32'
    assert fast.model.detector.channels_last is False
    assert fast.model.generator.inference_precision == 'fp32'
    # None keeps the config's switches
    cfg = copy.deepcopy(tiny_cfg)
    cfg.model.generator.inference_precision = 'bf16'
    kept = ReportInferencer(cfg, str(weights))
    assert kept.model.generator.inference_precision == 'bf16'
    with pytest.raises(ValueError, match='profile'):
        ReportInferencer(tiny_cfg, str(weights), profile='int8')


def test_failures_raise_or_are_reported(inferencer, images, tmp_path):
    with pytest.raises(Exception, match='broken.jpg'):
        inferencer(inputs=[str(images / 'broken.jpg')])
    with pytest.raises(FileNotFoundError, match='no file matches'):
        inferencer(inputs=[str(tmp_path / 'none*.png')])
    out = inferencer(
        inputs=[str(images / 'broken.jpg'), str(images / 'a.png'),
                np.zeros((4, 4), dtype=np.float32),
                str(tmp_path / 'none*.png')],
        skip_failed=True)
    assert [p['img_path'] for p in out['predictions']] == [
        str(images / 'a.png')]
    failed = {f['input']: f['reason'] for f in out['failures']}
    assert set(failed) == {str(images / 'broken.jpg'), 'array #2',
                           str(tmp_path / 'none*.png')}
    assert failed[str(images / 'broken.jpg')].startswith('unreadable image')
    assert 'uint8' in failed['array #2']


def test_folders_globs_and_dicom_without_a_suffix(fake, tmp_path):
    folder = tmp_path / 'study'
    (folder / 'nested').mkdir(parents=True)
    pixels = np.full((64, 48), 90, np.uint8)
    cv2.imwrite(str(folder / 'b.png'), pixels)
    cv2.imwrite(str(folder / 'nested' / 'c.jpg'), pixels)
    write_dicom(str(folder / 'IM0001'), pixels, 'patient')  # no suffix
    (folder / 'notes.txt').write_text('not an image')
    inferencer = fake()
    out = inferencer([str(folder), str(folder / '**' / 'c.jpg')])
    assert [p['img_path'] for p in out['predictions']] == [
        str(folder / 'IM0001'), str(folder / 'b.png'),
        str(folder / 'nested' / 'c.jpg')]
    empty = tmp_path / 'empty'
    empty.mkdir()
    out = inferencer([str(empty)], skip_failed=True)
    assert out['failures'][0]['reason'].startswith('folder holds no image')


def _dicom(path, pixels, **header):
    write_dicom(str(path), pixels, 'patient')
    ds = pydicom.dcmread(str(path))
    for key, value in header.items():
        setattr(ds, key, value)
    ds.save_as(str(path))
    return str(path)


def test_non_chest_images_are_refused_unless_allowed(fake, tmp_path):
    pixels = np.random.default_rng(3).integers(0, 255, (64, 48), np.uint8)
    chest = _dicom(tmp_path / 'chest.dcm', pixels)
    hand = _dicom(tmp_path / 'hand.dcm', pixels, BodyPartExamined='HAND')
    lateral = _dicom(tmp_path / 'lateral.dcm', pixels, ViewPosition='LL')
    out = fake()([chest, hand, lateral], return_vis=True)
    ok, refused, side = out['predictions']
    assert ok['status'] == 'ok' and ok['refusal'] is None
    assert [r['index'] for r in ok['regions'] if r['selected']] == list(
        SELECTED)
    for pred in (refused, side):
        assert set(pred) == PREDICTION_KEYS
        assert pred['status'] == 'refused'
        assert pred['report'] == '' and pred['regions'] == []
        assert pred['ori_shape'] == [64, 48]
        assert 'not a frontal chest radiograph' in pred['refusal']
        assert str(tmp_path) not in pred['refusal']  # for the user
    assert "BodyPartExamined is 'HAND'" in refused['refusal']
    assert "ViewPosition is 'LL'" in side['refusal']
    assert out['visualization'][1] is None and out['visualization'][2] is None
    # the refused images never reach the model
    samples = fake()([chest, hand], return_datasamples=True)['predictions']
    assert 'pred_regions' in samples[0] and 'pred_regions' not in samples[1]
    assert samples[1].refusal == refused['refusal']

    allowed = fake(allow_non_chest=True)([hand])['predictions'][0]
    assert allowed['status'] == 'ok' and allowed['refusal'] is None
    assert allowed['report'] and len(allowed['regions']) == NUM_REGIONS
    assert 'HAND' in allowed['warnings'][0]


def test_chest_checks_are_a_hook(fake, tmp_path):
    """An image-based check is one more callable: it sees the decoded
    image; the header check still runs first."""
    seen = []

    def dark_images(loaded):
        seen.append(loaded['img'].shape)
        return 'too dark to be a radiograph' if loaded['img'].max() < 10 \
            else None

    inferencer = fake(chest_checks=[dicom_header_check, dark_images])
    out = inferencer([np.zeros((64, 64), np.uint8),
                      np.full((64, 64), 200, np.uint8)])
    assert [p['status'] for p in out['predictions']] == ['refused', 'ok']
    assert out['predictions'][0]['refusal'] == 'too dark to be a radiograph'
    assert seen == [(64, 64, 3), (64, 64, 3)]


def test_real_extremity_is_refused_and_real_chest_analysed(fake):
    """pydicom-data's RG3 (BodyPartExamined EXTREMITY) and RG1 (a chest
    radiograph)."""
    rg3 = real_data_file_or_skip('RG3_UNCR')
    rg1 = real_data_file_or_skip('RG1_UNCR')
    leg, chest = fake()([rg3, rg1])['predictions']
    assert leg['status'] == 'refused' and 'EXTREMITY' in leg['refusal']
    assert leg['report'] == '' and leg['regions'] == []
    assert chest['status'] == 'ok' and chest['refusal'] is None
    assert chest['ori_shape'] == [1955, 1841] and chest['report']
    analysed = fake(allow_non_chest=True)(rg3)['predictions'][0]
    assert analysed['status'] == 'ok' and analysed['report']


def test_real_dicom_encodings_give_the_same_boxes(tmp_path):
    """The pydicom-data chest radiograph (CR, PA, 15-bit, MONOCHROME1):
    JPEG 2000 lossless gives the uncompressed image's boxes within a pixel,
    lossy close to them; the boxes follow the windowed picture; the drawing
    shows the windowed, inverted radiograph (white = dense)."""
    paths = [real_data_file_or_skip(f'RG1_{e}')
             for e in ('UNCR', 'J2KR', 'J2KI')]
    config = tmp_path / 'content.py'
    config.write_text(CONFIG.replace("'FakeRegionReportModel'",
                                     "'ContentBoxReportModel'"))
    out = ReportInferencer(str(config))(paths, return_vis=True)
    assert all(p['warnings'] == [] for p in out['predictions'])
    uncr, j2kr, j2ki = (np.array([r['bbox'] for r in p['regions']])
                        for p in out['predictions'])
    # the boxes follow the picture (not the fixed ramp of the plain fake)
    ramp = np.arange(NUM_REGIONS) * 2 * 1955 / 64
    assert np.abs(uncr[:8, 0] - ramp[:8]).min() > 30
    np.testing.assert_allclose(j2kr, uncr, atol=1)
    np.testing.assert_allclose(j2ki, uncr, atol=5)
    loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
    windowed = loader(dict(img_path=paths[0]))['img']
    drawing = out['visualization'][0]
    assert drawing.shape[0] == 1955 and drawing.shape[1] > 1841
    image = drawing[:, :1841]
    same = np.abs(image.astype(int) - windowed).max(axis=2) <= 1
    assert same.mean() > 0.95  # all but the drawn boxes and labels
    grey = image[..., 0].astype(int)
    rows = slice(489, 977)  # a quarter to half the height
    mediastinum = np.median(grey[rows, 865:975])
    lungs = np.median(grey[rows, 368:644]), np.median(grey[rows, 1197:1473])
    assert min(mediastinum - lung for lung in lungs) > 30


def test_16_bit_png_keeps_its_full_depth(fake, tmp_path):
    # a 12-bit ramp (1000..5095) in a 16-bit PNG: an 8-bit reading (value
    # >> 8) would give a nearly black 3..19
    ramp = (1000 + np.arange(256 * 192) % 4096).reshape(256, 192)
    path = tmp_path / 'deep.png'
    cv2.imwrite(str(path), ramp.astype(np.uint16))
    # a ramp is no chest: the picture check is not what is tested here
    out = fake(allow_non_chest=True)(str(path), return_vis=True)
    assert out['predictions'][0]['ori_shape'] == [256, 192]
    expected = np.round((ramp - ramp.min()) / (ramp.max() - ramp.min()) *
                        255)
    # lower left, away from the diagonal boxes and above the label that the
    # last selected box (at the right edge) gets inside the picture
    np.testing.assert_allclose(
        out['visualization'][0][150:190, :90, 1], expected[150:190, :90],
        atol=1)


def test_too_small_images_are_refused_with_the_loader_reason(fake, tmp_path):
    cv2.imwrite(str(tmp_path / 'dot.png'), np.full((1, 1), 128, np.uint8))
    out = fake()([str(tmp_path / 'dot.png')], skip_failed=True)
    (failure, ) = out['failures']
    assert 'image is 1x1 pixels, below the minimum side of 32' in \
        failure['reason']
