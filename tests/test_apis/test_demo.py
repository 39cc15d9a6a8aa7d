"""The web demo's page logic (crrg.apis.demo): one decode per analysis,
clicks, table, detail, refusals, samples."""
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from fake_report_models import CONFIG, DECODES
from mmengine.config import Config
from mmengine.logging import MMLogger

from crrg.apis import CLIPInferencer, ReportInferencer
from crrg.apis.demo import (SHOW_DETECTED, SHOW_SELECTED, TABLE_HEADERS,
                            DemoSession, collect_samples, twin_test_images)
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS
from crrg.models.utils import train_wordpiece_tokenizer
from crrg.datasets.synthetic.rsna import write_dicom

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def inferencers(tmp_path_factory):
    """The fake report model and a random tiny zero-shot R-CLIP, both with
    the counting X-ray loader."""
    tmp = tmp_path_factory.mktemp('demo')
    config = tmp / 'fake.py'
    config.write_text(CONFIG)
    report = ReportInferencer(str(config))
    tokenizer = str(tmp / 'wordpiece')
    train_wordpiece_tokenizer(['no acute process', 'opacity in the lung'] * 5,
                              tokenizer, vocab_size=100)
    cfg = Config.fromfile(
        str(REPO / 'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py'))
    cfg.merge_from_dict({'model.text_encoder.tokenizer': tokenizer})
    cfg.test_dataloader.dataset.pipeline[0].type = 'CountingXrayLoader'
    return report, CLIPInferencer(cfg)


def fake_prediction(height=200, width=100) -> dict:
    """An inferencer prediction: nested boxes around (50, 50), one far."""
    regions = []
    for i, name in enumerate(ANATOMICAL_REGIONS):
        regions.append(
            dict(index=i, name=name, bbox=[90.0, 180.0, 99.0, 199.0],
                 score=0.9, detected=i != 5, selection_score=-2.0,
                 selected=False, sentence=''))
    regions[1].update(bbox=[10.0, 10.0, 90.0, 90.0], selected=True,
                      selection_score=1.0, sentence='big box.')
    regions[2].update(bbox=[40.0, 40.0, 60.0, 60.0], selected=True,
                      selection_score=2.0, sentence='small box.')
    regions[3].update(bbox=[45.0, 45.0, 55.0, 55.0])  # detected only
    return dict(img_path=None, ori_shape=[height, width], status='ok',
                refusal=None, report='big box. small box.', regions=regions,
                warnings=[])


@pytest.fixture
def page(inferencers):
    session = DemoSession(*inferencers, display_size=100)
    image = np.full((200, 100, 3), 60, dtype=np.uint8)
    zero_shot = dict(prompts=['normal', 'pneumonia'], scores=[0.75, 0.25])
    return session, session.state(image, fake_prediction(), zero_shot)


def test_one_analysis_decodes_the_image_once(inferencers, tmp_path):
    session = DemoSession(*inferencers, display_size=100)
    path = str(tmp_path / 'x.png')
    cv2.imwrite(path, np.random.default_rng(0).integers(
        0, 255, (200, 100), np.uint8))
    DECODES.clear()
    state = session.analyse(path)
    assert DECODES[path] == 1
    assert state['prediction']['status'] == 'ok'
    assert state['prediction']['ori_shape'] == [200, 100]
    assert state['image'].shape == (100, 50, 3) and state['scale'] == 0.5
    # the probability is the CLIP inferencer's on the same image
    expected = inferencers[1](path)['predictions'][0]['scores'][1]
    assert state['zero_shot']['scores'][1] == pytest.approx(expected)
    assert f'{expected:.3f}' in session.pneumonia_text(state)


def test_a_refused_image_shows_the_reason_and_no_regions(inferencers,
                                                         tmp_path):
    session = DemoSession(*inferencers, display_size=100)
    path = tmp_path / 'foot.dcm'
    write_dicom(str(path), np.full((80, 60), 90, np.uint8), 'patient')
    ds = pydicom.dcmread(str(path))
    ds.BodyPartExamined = 'FOOT'
    ds.save_as(str(path))
    state = session.analyse(str(path))
    assert state['prediction']['status'] == 'refused'
    assert state['prediction']['report'] == ''
    assert 'FOOT' in session.refusal_text(state)
    assert session.table(state, SHOW_SELECTED) == []
    assert state['zero_shot'] is None and session.pneumonia_text(state) == ''
    assert session.render(state, SHOW_SELECTED).shape == (80, 60, 3)


def test_click_picks_the_smallest_shown_box(page):
    session, state = page
    # 200 px high image shown at 100 px: display pixels are half
    assert state['scale'] == 0.5 and state['image'].shape[:2] == (100, 50)
    assert session.region_at(state, SHOW_SELECTED, 25, 25) == 2
    assert session.region_at(state, SHOW_SELECTED, 10, 10) == 1
    # region 3 is only among the detected ones
    assert session.region_at(state, SHOW_DETECTED, 25, 25) == 3
    assert session.region_at(state, SHOW_SELECTED, 2, 2) is None
    assert session.shown(state, SHOW_SELECTED) == [1, 2]
    assert 5 not in session.shown(state, SHOW_DETECTED)
    assert len(session.shown(state, SHOW_DETECTED)) == NUM_REGIONS - 1


def test_table_detail_and_zero_shot(page):
    session, state = page
    rows = session.table(state, SHOW_SELECTED)
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][1] == ANATOMICAL_REGIONS[2] and rows[1][-1] == 'small box.'
    assert len(rows[0]) == len(TABLE_HEADERS)
    detail = session.detail(state, 2)
    assert ANATOMICAL_REGIONS[2] in detail
    assert '[40.0, 40.0, 60.0, 60.0]' in detail and 'small box.' in detail
    assert '+2.000 (selected)' in detail
    assert 'not selected' in session.detail(state, 3)
    assert '0.250' in session.pneumonia_text(state)
    assert session.refusal_text(state) == ''


def test_render_highlights_the_clicked_region(page):
    session, state = page
    plain = session.render(state, SHOW_SELECTED)
    picked = session.render(state, SHOW_SELECTED, highlight=2)
    assert plain.shape == picked.shape == (100, 50, 3)
    # region 2's box in display pixels is [20, 20, 30, 30]: its outline
    # changes, the image far from it does not
    diff = np.abs(plain.astype(int) - picked.astype(int)).sum(axis=2)
    assert diff[19:32, 19:32].sum() > 0
    assert diff[60:, :].sum() == 0
    # all detected regions add region 3's box inside region 2's
    detected = session.render(state, SHOW_DETECTED)
    assert np.abs(detected.astype(int) - plain.astype(int))[22:28, 22:28].sum(
    ) > 0


def test_samples(tmp_path, synthetic_twin, monkeypatch):
    logger = MMLogger.get_instance('test-demo')
    (tmp_path / 'a.jpg').write_bytes(b'x')
    samples = collect_samples(
        [str(tmp_path / '*.jpg'), str(tmp_path / 'missing.png')], logger)
    assert samples == {'a.jpg': str(tmp_path / 'a.jpg')}
    # the defaults: the twin's frontal test images, and the real DICOM only
    # when it is cached (never downloaded)
    root, _ = synthetic_twin
    twin = twin_test_images(str(root), count=2)
    assert len(twin) == 2 and all(Path(p).is_file() for p in twin)
    assert twin_test_images(str(tmp_path)) == []
    monkeypatch.setenv('CRRG_REAL_DATA', str(tmp_path / 'empty_cache'))
    defaults = collect_samples(None, logger, twin_root=str(root))
    assert sorted(defaults.values()) == sorted(
        twin_test_images(str(root)))
    assert not (tmp_path / 'empty_cache').exists()

