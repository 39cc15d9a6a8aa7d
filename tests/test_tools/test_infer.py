"""tools/infer.py against a fake region-guided model on tiny images, real
DICOM radiographs, 16-bit PNGs, too small images and wrong checkpoints."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from crrg.models.report_generators import BaseReportGenerator
from crrg.registry import MODELS, TRANSFORMS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS
from crrg.testing.real_data import real_data_file_or_skip

REPO = Path(__file__).resolve().parents[2]
SELECTED = (0, 8, 24)


def load_infer():
    spec = importlib.util.spec_from_file_location('crrg_tools_infer',
                                                  REPO / 'tools' / 'infer.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@MODELS.register_module(force=True)
class FakeRegionReportModel(BaseReportGenerator):
    """Predicts fixed boxes, given in the pipeline image's pixels and
    returned in the original's, as every report generator does.

    Region i's box is ``[2i, 2i, 2i + 8, 2i + 8]`` in the pipeline image;
    regions in ``SELECTED`` are selected and get a sentence; the report joins
    those sentences.
    """

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.layer = torch.nn.Linear(1, 1)

    def extract_feat(self, inputs, data_samples=None):
        return inputs

    def loss(self, inputs, data_samples):
        raise NotImplementedError

    def box_offset(self, image):
        """Shift of every box (pipeline pixels) for one (3, H, W) input."""
        return 0.0

    def predict(self, inputs, data_samples):
        assert inputs.dim() == 4 and inputs.shape[1] == 3
        for image, sample in zip(inputs, data_samples):
            assert 'gt_instances' not in sample or len(
                sample.gt_instances) == 0
            start = torch.arange(NUM_REGIONS, dtype=torch.float32) * 2
            start = start + self.box_offset(image)
            bboxes = self.boxes_to_original(
                torch.stack([start, start, start + 8, start + 8], dim=1),
                sample.metainfo)
            selected = torch.zeros(NUM_REGIONS, dtype=torch.bool)
            selected[list(SELECTED)] = True
            regions = InstanceData(
                bboxes=bboxes,
                scores=torch.linspace(0.1, 0.9, NUM_REGIONS),
                detected=torch.ones(NUM_REGIONS, dtype=torch.bool),
                selected=selected,
                selection_scores=torch.where(selected, 2.0, -3.0))
            regions.sentences = [
                f'finding in the {name}.' if selected[i] else ''
                for i, name in enumerate(ANATOMICAL_REGIONS)
            ]
            sample.pred_regions = regions
            sample.pred_report = ' '.join(s for s in regions.sentences if s)
        return data_samples


@MODELS.register_module(force=True)
class ContentBoxReportModel(FakeRegionReportModel):
    """:class:`FakeRegionReportModel` whose boxes move with the picture:
    shifted by 16 times the mean normalised intensity of the (resized,
    padded) input, so a differently decoded or windowed image gets other
    boxes."""

    def box_offset(self, image):
        return 16.0 * float(image.float().mean())


CONFIG = """
default_scope = 'crrg'
model = dict(
    type='FakeRegionReportModel',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
        pad_size_divisor=32))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='Pad', size=(64, 64)),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'region_sentences', 'gt_report')),
]
test_dataloader = dict(
    batch_size=1,
    dataset=dict(type='CocoDataset', ann_file='absent.json',
                 pipeline=test_pipeline))
"""


@pytest.fixture
def setup(tmp_path):
    config = tmp_path / 'fake_rrg.py'
    config.write_text(CONFIG)
    model = FakeRegionReportModel()
    checkpoint = tmp_path / 'fake.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    images = tmp_path / 'images'
    (images / 'nested').mkdir(parents=True)
    rng = np.random.default_rng(0)
    # 128x96 originals -> pipeline scale factor 0.5.
    for name in ('a.jpg', 'b.png', 'nested/c.jpg'):
        cv2.imwrite(
            str(images / name),
            rng.integers(0, 80, (128, 96), dtype=np.uint8))
    (images / 'corrupt.jpg').write_bytes(b'not a jpeg at all')
    (images / 'notes.txt').write_text('not an image')
    return config, checkpoint, images


def test_infer_writes_outputs_and_skips_bad_images(setup, tmp_path, capsys):
    config, checkpoint, images = setup
    infer = load_infer()
    out = tmp_path / 'out'
    code = infer.main([
        str(config),
        str(checkpoint),
        str(images),  # folder: a.jpg, b.png, corrupt.jpg (not nested/)
        str(images / '**' / 'c.jpg'),  # glob expanded in Python
        str(images / 'missing.jpg'),
        str(images / 'none*.png'),
        '--out',
        str(out),
        '--batch-size',
        '2',
    ])
    stdout = capsys.readouterr().out
    assert code == 1  # some inputs failed

    for stem in ('a', 'b', 'c'):
        for ext in ('txt', 'json', 'png'):
            assert (out / f'{stem}.{ext}').is_file(), f'{stem}.{ext}'
    assert not list(out.glob('corrupt.*'))
    assert not list(out.glob('missing.*'))

    record = json.loads((out / 'a.json').read_text())
    assert record['img_path'] == str(images / 'a.jpg')
    assert record['ori_shape'] == [128, 96]
    assert record['report'] == (out / 'a.txt').read_text().strip()
    assert len(record['regions']) == NUM_REGIONS
    assert [r['name'] for r in record['regions']] == list(ANATOMICAL_REGIONS)
    assert {
        'index', 'name', 'bbox', 'score', 'detected', 'selected',
        'selection_score', 'sentence'
    } == set(record['regions'][0])
    selected = [i for i, r in enumerate(record['regions']) if r['selected']]
    assert selected == list(SELECTED)
    # Boxes come back in the original (128x96) image's pixels: x2 for
    # region 3 is (6 + 8) / 0.5 = 28.
    assert record['regions'][3]['bbox'] == [12.0, 12.0, 28.0, 28.0]
    # Pipeline box of the last region is [56, 56, 64, 64] -> clipped to the
    # original width 96 and height 128: [112, 112, 96, 128].
    assert record['regions'][28]['bbox'][2] == 96.0
    assert record['regions'][8]['sentence'] == 'finding in the left lung.'

    png = cv2.imread(str(out / 'a.png'))
    assert png.shape[0] == 128 and png.shape[1] > 96  # image + panel

    assert 'left lung' in stdout and 'finding in the cardiac' in stdout
    assert 'corrupt.jpg' in stdout and 'unreadable image' in stdout
    assert 'missing.jpg' in stdout and 'file not found' in stdout
    assert 'none*.png' in stdout and 'no file matches' in stdout
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith('3 image(s) succeeded, 3 failed: ')
    # what failed and why: the loader's reason, without the repeated path
    assert 'corrupt.jpg (unreadable image: cannot decode the image' in summary
    assert 'none*.png (no file matches this pattern)' in summary
    assert 'missing.jpg (file not found)' in summary


def test_infer_fails_when_no_image_succeeds(setup, tmp_path, capsys):
    config, checkpoint, images = setup
    infer = load_infer()
    code = infer.main([
        str(config),
        str(checkpoint),
        str(images / 'corrupt.jpg'), '--out',
        str(tmp_path / 'out')
    ])
    assert code != 0
    assert '0 image(s) succeeded, 1 failed' in capsys.readouterr().out


def test_duplicate_stems_do_not_overwrite(setup, tmp_path):
    config, checkpoint, images = setup
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'a.jpg').write_bytes((images / 'a.jpg').read_bytes())
    infer = load_infer()
    out = tmp_path / 'out'
    assert infer.main([
        str(config),
        str(checkpoint),
        str(images / 'a.jpg'),
        str(other / 'a.jpg'), '--out',
        str(out)
    ]) == 0
    assert json.loads((out / 'a.json').read_text())['img_path'] == str(
        images / 'a.jpg')
    assert json.loads((out / 'a_1.json').read_text())['img_path'] == str(
        other / 'a.jpg')


def test_cfg_options_reach_the_pipeline(setup, tmp_path):
    config, checkpoint, images = setup
    infer = load_infer()
    out = tmp_path / 'out'
    assert infer.main([
        str(config),
        str(checkpoint),
        str(images / 'a.jpg'), '--out',
        str(out), '--cfg-options',
        'test_dataloader.dataset.pipeline.2.scale=(256,256)'
    ]) == 0
    # 128x96 -> 256x192: scale factor 2, so region 3's [6, 6, 14, 14] maps
    # back to [3, 3, 7, 7].
    record = json.loads((out / 'a.json').read_text())
    assert record['regions'][3]['bbox'] == [3.0, 3.0, 7.0, 7.0]


def boxes(record):
    return np.array([r['bbox'] for r in record['regions']])


def test_infer_on_real_dicom_radiographs(setup, tmp_path, capsys):
    """The pydicom-data chest radiograph (CR, PA, 15-bit, MONOCHROME1) in
    every encoding, and an extremity radiograph without a file extension in a
    folder."""
    config, checkpoint, _ = setup
    rg1 = {e: real_data_file_or_skip(f'RG1_{e}') for e in
           ('UNCR', 'J2KR', 'J2KI')}
    folder = tmp_path / 'dicom'
    folder.mkdir()
    (folder / 'extremity').symlink_to(real_data_file_or_skip('RG3_UNCR'))
    content = tmp_path / 'content_rrg.py'
    content.write_text(CONFIG.replace("'FakeRegionReportModel'",
                                      "'ContentBoxReportModel'"))
    out = tmp_path / 'out'
    code = load_infer().main(
        [str(content), str(checkpoint), *rg1.values(), str(folder),
         '--out', str(out)])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    records = {e: json.loads((out / f'RG1_{e}.json').read_text())
               for e in rg1}
    assert records['UNCR']['ori_shape'] == [1955, 1841]
    assert records['UNCR']['warnings'] == []
    # the boxes follow the picture (not the fixed ramp of the plain fake)
    ramp = np.arange(NUM_REGIONS) * 2 * 1955 / 64
    assert np.abs(boxes(records['UNCR'])[:8, 0] - ramp[:8]).min() > 30
    # lossless JPEG 2000: the same boxes within a pixel; lossy: close
    np.testing.assert_allclose(
        boxes(records['J2KR']), boxes(records['UNCR']), atol=1)
    np.testing.assert_allclose(
        boxes(records['J2KI']), boxes(records['UNCR']), atol=5)

    # the drawing shows the windowed, MONOCHROME1-inverted radiograph (white
    # = dense) the loader gives, not OpenCV's raw negative
    loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
    windowed = loader(dict(img_path=rg1['UNCR']))['img']
    drawing = cv2.imread(str(out / 'RG1_UNCR.png'))[..., ::-1]
    assert drawing.shape[0] == 1955 and drawing.shape[1] > 1841
    image = drawing[:, :1841]
    same = np.abs(image.astype(int) - windowed).max(axis=2) <= 1
    assert same.mean() > 0.95  # all but the drawn boxes and labels
    grey = image[..., 0].astype(int)
    rows = slice(489, 977)  # a quarter to half the height
    mediastinum = np.median(grey[rows, 865:975])
    lungs = np.median(grey[rows, 368:644]), np.median(grey[rows, 1197:1473])
    assert min(mediastinum - lung for lung in lungs) > 30

    # the extremity: predicted, but warned about in the output and the JSON
    extremity = json.loads((out / 'extremity.json').read_text())
    (warning, ) = extremity['warnings']
    assert 'not a chest radiograph' in warning and 'EXTREMITY' in warning
    assert f'warning {folder / "extremity"}: the DICOM header says' in stdout
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith('4 image(s) succeeded, 0 failed; 1 with '
                              'warnings')
    assert str(folder / 'extremity') in summary


def test_16_bit_png_keeps_its_full_depth(setup, tmp_path):
    config, checkpoint, _ = setup
    # a 12-bit ramp (1000..5095) in a 16-bit PNG: an 8-bit reading (value
    # >> 8) would give a nearly black 3..19
    ramp = (1000 + np.arange(256 * 192) % 4096).reshape(256, 192)
    path = tmp_path / 'deep.png'
    cv2.imwrite(str(path), ramp.astype(np.uint16))
    out = tmp_path / 'out'
    assert load_infer().main(
        [str(config), str(checkpoint), str(path), '--out', str(out)]) == 0
    record = json.loads((out / 'deep.json').read_text())
    assert record['ori_shape'] == [256, 192]
    expected = np.round((ramp - ramp.min()) / (ramp.max() - ramp.min()) *
                        255)
    drawing = cv2.imread(str(out / 'deep.png'))
    # lower left quadrant: away from the diagonal boxes
    np.testing.assert_allclose(
        drawing[150:, :90, 1], expected[150:, :90], atol=1)


def test_too_small_images_are_refused(setup, tmp_path, capsys):
    config, checkpoint, images = setup
    cv2.imwrite(str(tmp_path / 'dot.png'), np.full((1, 1), 128, np.uint8))
    cv2.imwrite(str(tmp_path / 'strip.png'), np.full((20, 300), 128,
                                                     np.uint8))
    out = tmp_path / 'out'
    code = load_infer().main([
        str(config), str(checkpoint), str(images / 'a.jpg'),
        str(tmp_path / 'dot.png'), str(tmp_path / 'strip.png'), '--out',
        str(out)])
    assert code == 1
    assert not list(out.glob('dot.*')) and not list(out.glob('strip.*'))
    assert (out / 'a.json').is_file()
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith('1 image(s) succeeded, 2 failed: ')
    assert (f'{tmp_path / "dot.png"} (unreadable image: image is 1x1 '
            'pixels, below the minimum side of 32') in summary
    assert f'{tmp_path / "strip.png"} (unreadable image: image is 300x20 ' \
        'pixels' in summary


def test_wrong_checkpoint_is_refused_unless_allow_partial(
        setup, tmp_path, capsys):
    config, checkpoint, images = setup
    state = FakeRegionReportModel().state_dict()
    state.pop('layer.bias')
    state['extra.weight'] = torch.zeros(1)
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, partial)
    # a checkpoint of another model (e.g. a detector's): nothing matches
    other = tmp_path / 'detector.pth'
    torch.save({'state_dict': {'detector.backbone.conv1.weight':
                               torch.zeros(1)}}, other)
    infer = load_infer()
    out = tmp_path / 'out'
    args = [str(images / 'a.jpg'), '--out', str(out)]

    assert infer.main([str(config), str(partial), *args]) == 2
    stdout = capsys.readouterr().out
    assert 'CheckpointMismatchError' in stdout
    assert 'layer.bias' in stdout and 'extra.weight' in stdout
    assert '--allow-partial' in stdout
    assert not out.exists() or not list(out.iterdir())

    assert infer.main([str(config), str(other), *args]) == 2
    stdout = capsys.readouterr().out
    assert 'CheckpointMismatchError' in stdout and 'No key matches' in stdout
    assert 'detector.backbone.conv1.weight' in stdout

    assert infer.main([str(config), str(partial), *args,
                       '--allow-partial']) == 0
    assert (out / 'a.json').is_file()


def test_command_line_exit_code(setup, tmp_path):
    """Run as a user would: the script's exit code is 1 when an input fails
    (the fake model comes from a plugin module, ``custom_imports``)."""
    config, checkpoint, images = setup
    config.write_text(CONFIG + "custom_imports = dict(imports=['test_infer'],"
                      ' allow_failed_imports=False)\n')
    cv2.imwrite(str(tmp_path / 'dot.png'), np.zeros((1, 1), np.uint8))
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [str(REPO), str(Path(__file__).parent)]))
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'infer.py'), str(config),
         str(checkpoint), str(images / 'a.jpg'), str(tmp_path / 'dot.png'),
         '--out', str(tmp_path / 'out')],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith('1 image(s) succeeded, 1 failed: ')
    assert 'dot.png (unreadable image: image is 1x1 pixels' in summary
    assert (tmp_path / 'out' / 'a.json').is_file()
