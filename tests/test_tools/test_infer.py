"""tools/infer.py against a fake region-guided model on tiny images."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from crrg.models.report_generators import BaseReportGenerator
from crrg.registry import MODELS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS

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

    def predict(self, inputs, data_samples):
        assert inputs.dim() == 4 and inputs.shape[1] == 3
        for sample in data_samples:
            assert 'gt_instances' not in sample or len(
                sample.gt_instances) == 0
            start = torch.arange(NUM_REGIONS, dtype=torch.float32) * 2
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
    assert 'corrupt.jpg (unreadable image)' in summary
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
