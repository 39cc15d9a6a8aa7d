"""tools/demo_app.py: its command line, concurrent users served in one
batch, and the page itself in Chromium (the page's logic, crrg.apis.demo, is
tested in tests/test_apis/test_demo.py).

The browser test serves the demo in a subprocess on 127.0.0.1 with a small
region-guided model registered from a plugin module (``custom_imports``),
drives Debian's Chromium headless with Playwright (the pip package; its own
browser downloads are never used), uploads a synthetic-twin image, clicks a
region on the image and a row of the table, and compares what the page shows
with ``tools/infer.py``'s JSON for the same image. Its screenshot is kept
under pytest's tmp dir and, when ``CRRG_ARTIFACTS`` is set, copied there.
"""
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch


REPO = Path(__file__).resolve().parents[2]
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'
]
SELECTED = (0, 8, 24)
UNDETECTED = (28, )

# A plugin module: region i's box sits in cell (i % 6, i // 6) of a grid over
# the 64x64 pipeline image (returned in original pixels), so no two overlap;
# SELECTED regions get a sentence that names them; UNDETECTED regions are not
# detected; the report ends with the original image size.
PLUGIN = f'''
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from crrg.registry import MODELS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS

SELECTED = {SELECTED!r}
UNDETECTED = {UNDETECTED!r}


@MODELS.register_module(force=True)
class GridRegionReportModel(BaseModel):

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.layer = torch.nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='predict'):
        assert mode == 'predict'
        for sample in data_samples:
            i = torch.arange(NUM_REGIONS, dtype=torch.float32)
            col, row = i % 6, torch.div(i, 6, rounding_mode='floor')
            regions = InstanceData()
            # in the original image's pixels, as crrg's models predict
            scale_w, scale_h = sample.metainfo['scale_factor']
            regions.bboxes = torch.stack(
                [col * 10 + 1, row * 12 + 1, col * 10 + 9, row * 12 + 11],
                dim=1) / torch.tensor([scale_w, scale_h, scale_w, scale_h])
            regions.scores = torch.linspace(0.5, 0.99, NUM_REGIONS)
            detected = torch.ones(NUM_REGIONS, dtype=torch.bool)
            detected[list(UNDETECTED)] = False
            regions.detected = detected
            selected = torch.zeros(NUM_REGIONS, dtype=torch.bool)
            selected[list(SELECTED)] = True
            regions.selected = selected
            regions.selection_scores = torch.where(
                selected, 1.5, -2.5) + i / 100
            regions.sentences = [
                f'the {{name}} looks unremarkable.' if selected[k] else ''
                for k, name in enumerate(ANATOMICAL_REGIONS)]
            sample.pred_regions = regions
            sample.pred_instances = InstanceData(
                bboxes=regions.bboxes, scores=regions.scores,
                labels=torch.arange(NUM_REGIONS))
            height, width = sample.metainfo['ori_shape'][:2]
            sample.pred_report = ' '.join(
                s for s in regions.sentences if s) + f' ({{width}}x{{height}}).'
        return data_samples
'''

CONFIG = """
default_scope = 'crrg'
custom_imports = dict(imports=['grid_region_model'],
                      allow_failed_imports=False)
model = dict(
    type='GridRegionReportModel',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255]))
test_pipeline = [
    dict(type='LoadXrayImageFromFile'),  # JPEG, PNG and DICOM
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='Pad', size=(64, 64)),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
test_dataloader = dict(
    batch_size=1,
    dataset=dict(type='CocoDataset', ann_file='absent.json',
                 pipeline=test_pipeline))
"""


def run_tool(name: str, *args, cwd=None, pythonpath=()):
    """Run ``tools/<name>.py``; returns the finished process."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [str(REPO), *map(str, pythonpath)]))
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / f'{name}.py'), *map(str, args)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_default_model_errors(tmp_path):
    """Without CONFIG and CHECKPOINT the demo serves what tools/demo.sh
    trained, and says so when it has not run; half a pair is refused."""
    proc = run_tool('demo_app', cwd=tmp_path)
    assert proc.returncode != 0 and 'tools/demo.sh' in proc.stderr
    proc = run_tool('demo_app', 'only-config.py', cwd=tmp_path)
    assert proc.returncode != 0
    assert 'give both CONFIG and CHECKPOINT' in proc.stderr


def test_max_batch_size_option(tmp_path):
    proc = run_tool('demo_app', '--max-batch-size', '0', cwd=tmp_path)
    assert proc.returncode == 2
    assert '--max-batch-size must be at least 1' in proc.stderr


def load_tool(name: str):
    """``tools/<name>.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location(
        f'crrg_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_concurrent_users_are_served_in_one_batch(tmp_path, monkeypatch):
    """Four users pick a sample while the model is busy with a fifth
    user's: through the served page (Gradio's queue; each user a
    gradio_client session) the four are analysed together, the three
    images in one batch of the model and the damaged file failing for its
    user alone; each session keeps its own analysis (its state redraws its
    own image)."""
    import cv2
    from fake_report_models import CONFIG, chest_like
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from crrg.apis import ReportInferencer
    from crrg.apis.demo import SHOW_DETECTED, SHOW_SELECTED, DemoSession
    demo_app = load_tool('demo_app')
    config = tmp_path / 'fake.py'
    config.write_text(CONFIG)
    inferencer = ReportInferencer(str(config))
    # display shapes (display_size 100) tell the users' images apart
    shapes = {(200, 100): (100, 50), (100, 200): (50, 100),
              (120, 160): (75, 100), (160, 120): (100, 75)}
    samples = {}
    for k, (height, width) in enumerate(shapes):
        path = tmp_path / f'sample{k}.png'
        cv2.imwrite(str(path), chest_like(height, width, seed=k))
        samples[path.name] = str(path)
    damaged = tmp_path / 'notes.jpg'
    damaged.write_text('this is a text file, not a JPEG\n')
    samples[damaged.name] = str(damaged)
    session = DemoSession(inferencer, display_size=100, max_batch_size=4,
                          sr_dir=str(tmp_path / 'sr'))
    sizes = []
    busy, release = threading.Event(), threading.Event()
    forward = inferencer.forward

    def gated(data, **kwargs):
        sizes.append(len(data['data_samples']))
        if len(sizes) == 1:
            busy.set()
            assert release.wait(60), 'the test never released the model'
        return forward(data, **kwargs)

    monkeypatch.setattr(inferencer, 'forward', gated)
    app = demo_app.build_app(session, samples)
    port = free_port()
    demo_app.launch(app, '127.0.0.1', port, block=False)
    try:
        url = f'http://127.0.0.1:{port}/'
        clients = [Client(url, verbose=False) for _ in samples]
        answers = {}

        def pick(k: int, name: str) -> None:
            try:
                answers[k] = clients[k].predict(name, SHOW_SELECTED,
                                                api_name='/analyse_sample')
            except AppError as exc:
                answers[k] = exc

        names = list(samples)
        threads = [threading.Thread(target=pick, args=(0, names[0]))]
        threads[0].start()
        assert busy.wait(60)
        for k, name in enumerate(names[1:], 1):
            threads.append(threading.Thread(target=pick, args=(k, name)))
            threads[-1].start()
        deadline = time.monotonic() + 60
        while session.waiting < 4:
            assert time.monotonic() < deadline, 'the users did not queue'
            time.sleep(0.02)
        release.set()
        for thread in threads:
            thread.join(60)
        assert sizes == [1, 3]
        expected = session.analyse(samples[names[0]])['prediction']['report']
        for k, display in enumerate(shapes.values()):
            picture, report = answers[k][:2]
            assert report == expected
            assert cv2.imread(picture).shape[:2] == display
            # the session's state is this user's analysis
            redrawn = clients[k].predict(SHOW_DETECTED,
                                         api_name='/change_show')[0]
            assert cv2.imread(redrawn).shape[:2] == display
        assert isinstance(answers[4], AppError) and str(answers[4]).startswith(
            'notes.jpg could not be read as a chest X-ray image')
    finally:
        release.set()
        app.close()


# ------------------------------------------------------------ in a browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing."""
    if not os.path.exists(CHROMIUM):
        if shutil.which('apt-get') is None or os.geteuid() != 0:
            pytest.skip('Chromium is not installed and cannot be installed '
                        'here (needs root and apt-get): install Debian\'s '
                        '"chromium" package to run the browser test')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        for command in (['apt-get', 'update', '-qq'],
                        ['apt-get', 'install', '-y', '-qq', 'chromium']):
            proc = subprocess.run(command, env=env, capture_output=True,
                                  text=True, timeout=900)
            if proc.returncode != 0:
                pytest.skip(f'`{" ".join(command)}` could not install '
                            f'Chromium: {proc.stderr.strip()[-500:]}')
    return CHROMIUM


@pytest.fixture(scope='module')
def served_demo(tmp_path_factory, synthetic_twin):
    """The demo app on a free port with the grid model and a tiny R-CLIP."""
    from crrg.registry import MODELS
    from crrg.models.utils import train_wordpiece_tokenizer
    from mmengine.config import Config

    root, _ = synthetic_twin
    tmp = tmp_path_factory.mktemp('demo_app')
    (tmp / 'grid_region_model.py').write_text(textwrap.dedent(PLUGIN))
    config = tmp / 'grid_rrg.py'
    config.write_text(CONFIG)
    sys.path.insert(0, str(tmp))
    try:
        import grid_region_model
    finally:
        sys.path.remove(str(tmp))
    checkpoint = tmp / 'grid.pth'
    from crrg.engine.hooks.model_card_hook import build_model_card
    card = build_model_card(Config.fromfile(str(config)), epoch=2)
    torch.save(dict(state_dict=grid_region_model.GridRegionReportModel(
    ).state_dict(), meta=dict(model_card=card)), checkpoint)

    # a tiny R-CLIP with random weights for the zero-shot probability
    tokenizer = tmp / 'wordpiece'
    train_wordpiece_tokenizer(
        ['no evidence of pneumonia', 'findings suggesting pneumonia.'] * 5,
        str(tokenizer), vocab_size=200)
    clip_config = REPO / 'configs' / 'rclip' / \
        'rclip_tiny_zero-shot_rsna_synthetic.py'
    clip_options = [f'model.text_encoder.tokenizer={tokenizer}']
    clip_cfg = Config.fromfile(str(clip_config))
    clip_cfg.merge_from_dict({'model.text_encoder.tokenizer': str(tokenizer)})
    torch.manual_seed(0)
    clip_checkpoint = tmp / 'rclip.pth'
    torch.save(dict(state_dict=MODELS.build(clip_cfg.model).state_dict(),
                    meta={}), clip_checkpoint)

    images = sorted((root / 'mimic-cxr-jpg' / 'files').rglob('*.jpg'))
    image = images[0]
    # the real radiograph of the pydicom-data wheel, when the set-up cached it
    from crrg.utils.real_data import real_data_file
    dicom = real_data_file('RG1_UNCR')
    extremity = real_data_file('RG3_UNCR')
    samples = [str(images[1])] + [p for p in (dicom, extremity) if p]
    port = free_port()
    log = tmp / 'demo_app.log'
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(REPO), str(tmp)]),
               OMP_NUM_THREADS='1')
    command = [
        sys.executable, str(REPO / 'tools' / 'demo_app.py'), str(config),
        str(checkpoint), '--clip-config', str(clip_config),
        '--clip-checkpoint', str(clip_checkpoint), '--clip-cfg-options',
        *clip_options, '--port', str(port), '--max-upload-mb', '1',
        '--samples', *samples
    ]
    with open(log, 'w') as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=str(tmp))
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f'the demo app exited ({proc.returncode}):\n'
                            f'{log.read_text()[-3000:]}')
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail('the demo app did not serve within 120 s:\n'
                                f'{log.read_text()[-3000:]}')
                time.sleep(0.5)
        yield dict(url=url, config=config, checkpoint=checkpoint,
                   image=image, dicom=dicom, extremity=extremity, tmp=tmp,
                   log=log,
                   clip=(clip_config, clip_checkpoint, tokenizer))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def infer_json(served, tmp_path) -> dict:
    """tools/infer.py's JSON for the uploaded image."""
    out = tmp_path / 'infer'
    proc = run_tool('infer', served['config'], served['checkpoint'],
                    served['image'], '--out', out, cwd=served['tmp'],
                    pythonpath=[served['tmp']])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / f'{served["image"].stem}.json').read_text())


def wait_for_picture(page, ratio: float) -> None:
    """Wait until the page's X-ray picture is decoded and has the aspect
    ratio ``ratio`` (within 2 %); a timeout fails the test. The report can
    update before the browser has decoded the new picture (whose
    ``naturalHeight`` is 0 meanwhile)."""
    page.wait_for_function(
        """ratio => {
            const img = document.querySelector('#xray img');
            return img !== null && img.complete && img.naturalHeight > 0 &&
                Math.abs(img.naturalWidth / img.naturalHeight - ratio)
                    < 0.02 * ratio;
        }""", arg=ratio, timeout=30_000)


def click_region(page, box, natural_size):
    """Click the centre of ``box`` (original pixels) on the shown image."""
    img = page.locator('#xray img').first
    shown = img.bounding_box()
    width, height = natural_size
    x = (box[0] + box[2]) / 2 / width * shown['width'] + shown['x']
    y = (box[1] + box[3]) / 2 / height * shown['height'] + shown['y']
    page.mouse.click(x, y)


def shown_picture(page, url: str):
    """The picture the page shows, as served (RGB uint8)."""
    import cv2
    import numpy as np
    src = page.locator('#xray img').first.get_attribute('src')
    if not src.startswith('http'):
        src = url.rstrip('/') + '/' + src.lstrip('/')
    data = urllib.request.urlopen(src, timeout=10).read()
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[
        ..., ::-1]


def post_upload(url: str, size: int) -> int:
    """POST a ``size``-byte file to Gradio's upload route; the status."""
    boundary = 'crrgboundary'
    body = (f'--{boundary}\r\nContent-Disposition: form-data; '
            'name="files"; filename="big.dcm"\r\nContent-Type: '
            'application/octet-stream\r\n\r\n').encode() + \
        os.urandom(size) + f'\r\n--{boundary}--\r\n'.encode()
    request = urllib.request.Request(
        url + 'gradio_api/upload', data=body, method='POST', headers={
            'Content-Type': f'multipart/form-data; boundary={boundary}'})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r'-?\d+\.\d+', text)]


@pytest.mark.slow
def test_demo_page_in_chromium(chromium, served_demo, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    import cv2

    from mmengine.config import Config

    from crrg.apis import CLIPInferencer
    from crrg.apis.demo import SHOW_DETECTED
    from crrg.visualization.region_report_visualizer import HIGHLIGHT_COLOUR
    expected = infer_json(served_demo, tmp_path)
    height, width = cv2.imread(str(served_demo['image'])).shape[:2]
    screenshot = tmp_path / 'demo_app.png'
    requests = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / 'chromium-profile'),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={'width': 1400, 'height': 1100})
        try:
            page = context.new_page()
            page.on('request', lambda r: requests.append(r.url))
            page.goto(served_demo['url'])
            # which model, and that it is for research only
            card = page.locator('#model-card')
            expect(card).to_contain_text('grid_rrg (GridRegionReportModel)')
            expect(card).to_contain_text('Research use only')
            page.locator('#upload input[type=file]').set_input_files(
                str(served_demo['image']))
            report = page.locator('#report textarea')
            expect(report).to_have_value(expected['report'], timeout=60_000)

            # click the middle selected region on the image
            index = SELECTED[1]
            region = expected['regions'][index]
            detail = page.locator('#region-detail')
            wait_for_picture(page, width / height)
            click_region(page, region['bbox'], (width, height))
            expect(detail).to_contain_text(region['sentence'],
                                           timeout=30_000)
            text = detail.inner_text()
            assert region['name'] in text
            box = numbers(text.split('box (original pixels):')[1])[:4]
            assert box == pytest.approx(region['bbox'], abs=0.06)
            # the clicked box is highlighted: pixels of the highlight colour
            # inside it, none elsewhere
            page.wait_for_timeout(500)
            picture = shown_picture(page, served_demo['url'])
            scale = picture.shape[1] / width
            x1, y1, x2, y2 = (int(round(v * scale)) for v in region['bbox'])
            band = (picture == HIGHLIGHT_COLOUR).all(axis=2)
            assert band[y1:y2 + 1, x1:x2 + 1].sum() > 2 * (x2 - x1), \
                'no highlight inside the clicked box'
            assert band.sum() == band[y1:y2 + 1, x1:x2 + 1].sum()
            page.screenshot(path=str(screenshot), full_page=True)

            # a row of the table picks a region too
            other = expected['regions'][SELECTED[2]]
            page.locator('#regions .body-cell').filter(
                has_text=other['sentence']).first.click()
            expect(detail).to_contain_text(other['name'], timeout=30_000)
            assert other['sentence'] in detail.inner_text()

            # zero-shot probability, as R-CLIP computes it in this process
            clip_config, clip_checkpoint, tokenizer = served_demo['clip']
            clip_cfg = Config.fromfile(str(clip_config))
            clip_cfg.merge_from_dict(
                {'model.text_encoder.tokenizer': str(tokenizer)})
            probability = CLIPInferencer(clip_cfg, str(clip_checkpoint))(
                str(served_demo['image']))['predictions'][0]['scores'][1]
            expect(page.locator('#zero-shot')).to_contain_text(
                f'{probability:.3f}')

            # all detected regions: the table lists them in region order and
            # a detected, unselected region's box answers a click
            page.get_by_label(SHOW_DETECTED).check()
            unselected = expected['regions'][1]
            assert not unselected['selected'] and unselected['detected']
            expect(page.locator('#regions [data-testid="cell-1-1"]')
                   ).to_have_text(unselected['name'], timeout=30_000)
            click_region(page, unselected['bbox'], (width, height))
            expect(detail).to_contain_text(unselected['name'],
                                           timeout=30_000)
            assert 'not selected' in detail.inner_text()

            # a DICOM sample from the list: the real radiograph (15-bit,
            # MONOCHROME1) goes through the same path
            if served_demo['dicom']:
                page.locator('#sample input').click()
                page.get_by_role('option', name='RG1_UNCR.dcm').click()
                import pydicom
                ds = pydicom.dcmread(served_demo['dicom'],
                                     stop_before_pixels=True)
                expect(report).to_have_value(
                    re.compile(rf'\({ds.Columns}x{ds.Rows}\)\.$'),
                    timeout=60_000)
                wait_for_picture(page, ds.Columns / ds.Rows)
                # its DICOM SR, offered under its file name
                sr_box = page.locator('#sr')
                # (Gradio shows the name's stem and suffix apart)
                expect(sr_box).to_contain_text(
                    re.compile(r'RG1_UNCR\.sr\s*\.dcm'), timeout=30_000)
                assert '/tmp' not in sr_box.inner_text()
                assert sr_box.locator('a').first.get_attribute(
                    'download') == 'RG1_UNCR.sr.dcm'
                expect(page.locator('#sr-note')).to_contain_text(
                    'Structured Report')
                page.screenshot(path=str(tmp_path / 'demo_app_dicom.png'),
                                full_page=True)

            # the extremity radiograph is refused: the reason, no report
            if served_demo['extremity']:
                page.locator('#sample input').click()
                page.get_by_role('option', name='RG3_UNCR.dcm').click()
                expect(detail).to_contain_text('Not analysed',
                                               timeout=60_000)
                assert 'EXTREMITY' in detail.inner_text()
                expect(report).to_have_value('')
                page.screenshot(
                    path=str(tmp_path / 'demo_app_refused.png'),
                    full_page=True)
            # an upload over the limit (1 MB here) is refused as it arrives;
            # the server stays up
            assert post_upload(served_demo['url'], 2 * 1024 * 1024) == 413
            assert post_upload(served_demo['url'], 1000) == 200
            urllib.request.urlopen(served_demo['url'], timeout=10).close()
        finally:
            context.close()
    artefacts = os.environ.get('CRRG_ARTIFACTS')
    if artefacts:
        os.makedirs(artefacts, exist_ok=True)
        for png in tmp_path.glob('demo_app*.png'):
            shutil.copy(png, os.path.join(artefacts, png.name))
    assert screenshot.stat().st_size > 10_000
    outside = [u for u in requests
               if not u.startswith((served_demo['url'], 'data:', 'blob:'))]
    assert not outside, f'the page fetched from outside: {outside[:5]}'
