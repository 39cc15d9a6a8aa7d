"""The web demo's page logic (crrg.apis.demo): one decode per analysis,
several analyses in one batch, the queue, clicks, table, detail, refusals,
samples."""
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from fake_report_models import CONFIG, DECODES, chest_like
from mmengine.config import Config
from mmengine.logging import MMLogger

from crrg.apis import CLIPInferencer, ReportInferencer
from crrg.apis.demo import (SHOW_DETECTED, SHOW_SELECTED, TABLE_HEADERS,
                            DemoSession, collect_samples, twin_test_images,
                            user_message)
from crrg.utils.errors import ImageDecodeError
from crrg.visualization.region_report_visualizer import HIGHLIGHT_COLOUR
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
    cv2.imwrite(path, chest_like(200, 100))
    DECODES.clear()
    state = session.analyse(path)
    assert DECODES[path] == 1
    assert state['prediction']['status'] == 'ok'
    assert state['prediction']['ori_shape'] == [200, 100]
    assert state['image'].shape == (100, 50, 3) and state['scale'] == 0.5
    # a small image is scaled up to the display size (100 px high here)
    assert state['image'].shape == (100, 50, 3)
    # the probability is the CLIP inferencer's on the same image
    expected = inferencers[1](path)['predictions'][0]['scores'][1]
    assert state['zero_shot']['scores'][1] == pytest.approx(expected)
    assert f'{expected:.3f}' in session.pneumonia_text(state)


def count_batches(monkeypatch, inferencer, gate=None) -> list:
    """Record the batch size of every forward pass of ``inferencer``; with
    ``gate`` (a pair of events), the first pass sets ``gate[0]`` and waits
    for ``gate[1]``."""
    sizes = []
    forward = inferencer.forward

    def counting(data, **kwargs):
        sizes.append(len(data['data_samples']))
        if gate is not None and len(sizes) == 1:
            gate[0].set()
            assert gate[1].wait(60), 'the test never released the model'
        return forward(data, **kwargs)

    monkeypatch.setattr(inferencer, 'forward', counting)
    return sizes


def three_images(folder: Path) -> list:
    """Chest-like images of three sizes (a PNG, a JPEG and a DICOM)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / 'tall.png', folder / 'wide.jpg', folder / 'small.dcm']
    cv2.imwrite(str(paths[0]), chest_like(200, 100))
    cv2.imwrite(str(paths[1]), chest_like(120, 160, seed=1))
    write_dicom(str(paths[2]), chest_like(80, 60, seed=2), 'patient')
    return [str(p) for p in paths]


def test_several_analyses_in_one_batch_are_those_alone(
        inferencers, tmp_path, monkeypatch):
    session = DemoSession(*inferencers, display_size=100)
    paths = three_images(tmp_path)
    alone = [session.analyse(path) for path in paths]
    report_batches = count_batches(monkeypatch, inferencers[0])
    clip_batches = count_batches(monkeypatch, inferencers[1])
    DECODES.clear()
    together = session.analyse_many(paths)
    # one forward pass of each model for the three, each image decoded once
    assert report_batches == [3] and clip_batches == [3]
    assert [DECODES[path] for path in paths] == [1, 1, 1]
    for one, state, path in zip(alone, together, paths):
        assert state['path'] == path
        assert state['prediction'] == one['prediction']
        assert state['prediction']['report'] and state['prediction'][
            'regions']
        assert state['scale'] == one['scale']
        np.testing.assert_array_equal(state['image'], one['image'])
        assert state['zero_shot']['prompts'] == one['zero_shot']['prompts']
        assert state['zero_shot']['scores'] == pytest.approx(
            one['zero_shot']['scores'], abs=1e-5)
    assert [s['prediction']['ori_shape'] for s in together] == [
        [200, 100], [120, 160], [80, 60]]
    with pytest.raises(ValueError, match='max_batch_size'):
        DemoSession(inferencers[0], max_batch_size=0)


def test_a_failure_in_a_batch_is_only_its_users(inferencers, tmp_path,
                                                monkeypatch):
    session = DemoSession(inferencers[0], display_size=100,
                          sr_dir=str(tmp_path / 'sr'))
    sources = three_images(tmp_path / 'sources')
    damaged = damaged_files(tmp_path)['notes.jpg']
    uploads = []
    for k, source in enumerate([sources[0], damaged, sources[1],
                                sources[2]]):
        folder = tmp_path / 'uploads' / str(k)
        folder.mkdir(parents=True)
        upload = folder / Path(source).name
        upload.write_bytes(Path(source).read_bytes())
        uploads.append(str(upload))
    culprit = uploads[3]
    sizes = []
    forward = inferencers[0].forward

    def failing(data, **kwargs):
        sizes.append(len(data['data_samples']))
        if any(s.img_path == culprit for s in data['data_samples']):
            raise RuntimeError(f'{culprit}: the model failed')
        return forward(data, **kwargs)

    monkeypatch.setattr(inferencers[0], 'forward', failing)
    answers = session.handle_many(uploads, delete=True)
    # the unreadable file never reaches the model; the batch the culprit
    # failed is predicted again image by image
    assert sizes == [3, 1, 1, 1]
    (first, m1), (none, message), (third, m3), (last, m4) = answers
    assert m1 == m3 == '' and first['path'] == uploads[0]
    assert first['prediction']['ori_shape'] == [200, 100]
    assert third['prediction']['ori_shape'] == [120, 160]
    assert none is None and message.startswith(
        'notes.jpg could not be read as a chest X-ray image')
    assert last is None and m4 == (
        'The analysis of small.dcm failed on the server (the details are in '
        'the server log).')
    assert not any(Path(u).exists() for u in uploads)


def test_the_queue_batches_the_requests_waiting(inferencers, tmp_path,
                                                monkeypatch):
    """Requests that arrive while the model is busy wait and go through it
    together, at most ``max_batch_size`` at a time; each user gets their
    own answer."""
    session = DemoSession(inferencers[0], display_size=100,
                          max_batch_size=2)
    paths = three_images(tmp_path) + [str(tmp_path / 'missing.png')]
    busy, release = threading.Event(), threading.Event()
    sizes = count_batches(monkeypatch, inferencers[0], (busy, release))
    answers = {}

    def request(path):
        answers[path] = session.submit(path)

    threads = [threading.Thread(target=request, args=(paths[0], ))]
    threads[0].start()
    assert busy.wait(60)
    # the others arrive one after another while the model is busy
    for waiting, path in enumerate(paths[1:], 1):
        threads.append(threading.Thread(target=request, args=(path, )))
        threads[-1].start()
        deadline = time.monotonic() + 60
        while session.waiting < waiting:
            assert time.monotonic() < deadline, 'the request did not queue'
            time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(60)
    # the first alone; then the first two waiting in one batch; then the
    # missing file, which fails before the model
    assert sizes == [1, 2]
    for path, shape in zip(paths, ([200, 100], [120, 160], [80, 60])):
        state, message = answers[path]
        assert message == '' and state['path'] == path
        assert state['prediction']['ori_shape'] == shape
    assert answers[paths[3]] == (
        None, 'missing.png is no longer on the server: upload it again.')


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
    # no R-CLIP at all: the panel says why
    alone = DemoSession(inferencers[0], clip_missing='no R-CLIP trained')
    assert 'not shown: no R-CLIP trained' in alone.pneumonia_text(state)
    # scaled up to the display size
    assert session.render(state, SHOW_SELECTED).shape == (100, 75, 3)


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
    assert 'a box proposal voted for this region' in detail
    assert 'no box proposal voted' in session.detail(state, 5)
    assert '0.250' in session.pneumonia_text(state)
    assert session.refusal_text(state) == ''


def test_render_highlights_the_clicked_region(page):
    session, state = page
    plain = session.render(state, SHOW_SELECTED)
    picked = session.render(state, SHOW_SELECTED, highlight=2)
    assert plain.shape == picked.shape == (100, 50, 3)
    # region 2's box in display pixels is [20, 20, 30, 30]: a band of the
    # highlight colour inside it, nowhere else
    diff = np.abs(plain.astype(int) - picked.astype(int)).sum(axis=2)
    assert diff[60:, :].sum() == 0
    band = (picked == HIGHLIGHT_COLOUR).all(axis=2)
    assert band[20:31, 20:31].sum() >= 20 and band.sum() == band[
        20:31, 20:31].sum()
    # all detected regions add region 3's box inside region 2's
    detected = session.render(state, SHOW_DETECTED)
    assert np.abs(detected.astype(int) - plain.astype(int))[22:28, 22:28].sum(
    ) > 0


def test_concurrent_renders_get_their_own_pictures(page):
    """Users' drawings share the visualisers: threads rendering at once
    each get the picture of their own state."""
    session, tall = page
    wide = session.state(np.full((100, 200, 3), 90, np.uint8),
                         fake_prediction(100, 200))
    expected = [session.render(state, SHOW_SELECTED)
                for state in (tall, wide)]
    mixed = []

    def draw(k: int) -> None:
        for _ in range(10):
            picture = session.render((tall, wide)[k % 2], SHOW_SELECTED)
            if not np.array_equal(picture, expected[k % 2]):
                mixed.append(k)

    threads = [threading.Thread(target=draw, args=(k, )) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not mixed


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



def damaged_files(folder: Path) -> dict:
    """Files a hostile or careless user uploads."""
    import io
    good = io.BytesIO()
    from PIL import Image
    Image.fromarray(chest_like(120, 100)).save(good, format='JPEG')
    files = {
        'empty.jpg': b'',
        'notes.jpg': b'this is a text file, not a JPEG\n' * 20,
        'truncated.jpg': good.getvalue()[:300],
        'dot.png': cv2.imencode('.png', np.zeros((1, 1), np.uint8))[1]
        .tobytes(),
        'random.dcm': np.random.default_rng(0).integers(
            0, 255, 5000, np.uint8).tobytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def test_uploads_are_deleted_and_errors_are_for_users(inferencers, tmp_path):
    session = DemoSession(*inferencers, display_size=100,
                          sr_dir=str(tmp_path / 'sr'))
    uploads = tmp_path / 'uploads'
    for name, path in damaged_files(tmp_path).items():
        folder = uploads / name.replace('.', '_')
        folder.mkdir(parents=True)
        upload = folder / name
        upload.write_bytes(path.read_bytes())
        state, message = session.handle(str(upload), delete=True)
        assert state is None and message.startswith(name)
        assert str(tmp_path) not in message and '/tmp' not in message
        assert ' at 0x' not in message and 'Error' not in message
        assert not folder.exists()  # the upload and its folder are gone
    assert 'is empty' in session.handle(
        str(damaged_files(tmp_path)['empty.jpg']))[1]
    # an unexpected failure says only that it failed
    assert user_message(RuntimeError('/srv/x: boom'), 'a.png') == (
        'The analysis of a.png failed on the server (the details are in the '
        'server log).')
    assert user_message(ImageDecodeError(
        '/srv/u/a.png: cannot decode (UnidentifiedImageError: cannot '
        'identify image file <_io.BytesIO object at 0x7f00>)'), 'a.png',
        ['/srv/u/a.png']) == (
            'a.png could not be read as a chest X-ray image (JPEG, PNG or '
            'DICOM): cannot decode (cannot identify image file the file)')


def test_sr_download_and_model_card(inferencers, tmp_path):
    session = DemoSession(*inferencers, display_size=100,
                          sr_dir=str(tmp_path / 'sr'))
    path = tmp_path / 'upload' / 'chest.dcm'
    path.parent.mkdir()
    write_dicom(str(path), chest_like(80, 60), 'patient')
    ds = pydicom.dcmread(str(path))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = '1.2.3.4', '1.2.3.4.5'
    ds.PatientName, ds.PatientBirthDate, ds.PatientSex = 'Doe^J', '', 'O'
    ds.StudyDate, ds.StudyTime, ds.StudyID = '20240101', '120000', '1'
    ds.AccessionNumber, ds.ReferringPhysicianName = '', ''
    ds.save_as(str(path))
    state, message = session.handle(str(path), name='chest.dcm', delete=True)
    assert message == '' and state['prediction']['status'] == 'ok'
    assert Path(state['sr']).name == 'chest.sr.dcm'
    from crrg.dicom import read_sr
    content = read_sr(state['sr'])
    assert content['report'] == state['prediction']['report']
    assert 'Structured Report' in session.sr_text(state)
    assert not path.exists()
    jpeg = tmp_path / 'chest.jpg'
    cv2.imwrite(str(jpeg), chest_like(80, 60))
    state, _ = session.handle(str(jpeg))
    assert state['sr'] is None and 'only a DICOM input' in \
        session.sr_text(state)
    # SRs older than sr_max_age are deleted at the next analysis
    session.sr_max_age = 0
    session.handle(str(jpeg))
    assert list((tmp_path / 'sr').iterdir()) == []
    card = session.model_card_text()
    assert 'unknown model — no card (no checkpoint: random weights)' in card
    assert 'Research use only' in card and '**R-CLIP:**' in card


def _peak_rss_kb() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    raise RuntimeError('no VmHWM in /proc/self/status')


@pytest.mark.slow
def test_soak_200_requests(inferencers, tmp_path, synthetic_twin):
    """200 uploads, twin images and damaged files mixed, through the page
    logic (analysis, picture, table, a click): the server keeps answering,
    deletes every upload, and its peak RSS grows by at most 10 %."""
    root, _ = synthetic_twin
    twins = sorted((root / 'mimic-cxr-jpg' / 'files').rglob('*.jpg'))[:4]
    damaged = list(damaged_files(tmp_path).values())
    sources = twins + damaged
    session = DemoSession(inferencers[0], None, sr_dir=str(tmp_path / 'sr'))
    uploads = tmp_path / 'uploads'

    def request(k: int) -> bool:
        source = sources[k % len(sources)]
        folder = uploads / str(k)
        folder.mkdir(parents=True)
        upload = folder / source.name
        upload.write_bytes(source.read_bytes())
        state, message = session.handle(str(upload), delete=True)
        assert not folder.exists()
        if state is None:
            assert message and str(tmp_path) not in message
            return False
        for show in (SHOW_SELECTED, SHOW_DETECTED):
            session.render(state, show, highlight=0)
            session.table(state, show)
        return True

    ok = [request(k) for k in range(20)]  # warm-up
    before = _peak_rss_kb()
    ok += [request(k) for k in range(20, 200)]
    after = _peak_rss_kb()
    print(f'peak RSS over 200 requests: {before / 1024:.0f} MB after 20, '
          f'{after / 1024:.0f} MB after 200')
    # every twin image analysed, every damaged file refused with a message
    assert sum(ok) == sum(k % len(sources) < len(twins) for k in range(200))
    assert after <= 1.10 * before
    assert not any(uploads.iterdir())
