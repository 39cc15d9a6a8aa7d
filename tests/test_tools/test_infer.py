"""tools/infer.py as a user runs it (a subprocess) with a fake region-guided
model from a plugin module: outputs, failures and their summary, exit
codes, one decode per image, and the refusal of an extremity radiograph.
The inferencer's own behaviour is tested in tests/test_apis."""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_report_models import (CONFIG, SELECTED, FakeRegionReportModel,
                                chest_like)

from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS
from crrg.testing.real_data import real_data_file_or_skip

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]


def run_infer(*args, decode_log=None):
    """Run tools/infer.py; returns the finished process."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]))
    if decode_log is not None:
        env['CRRG_TEST_DECODE_LOG'] = str(decode_log)
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'infer.py'), *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def setup(tmp_path):
    config = tmp_path / 'fake_rrg.py'
    config.write_text(CONFIG)
    checkpoint = tmp_path / 'fake.pth'
    torch.save({'state_dict': FakeRegionReportModel().state_dict(),
                'meta': {}}, checkpoint)
    images = tmp_path / 'images'
    (images / 'nested').mkdir(parents=True)
    # 128x96 originals -> pipeline scale factor 0.5.
    for seed, name in enumerate(('a.jpg', 'b.png', 'nested/c.jpg')):
        cv2.imwrite(str(images / name), chest_like(128, 96, seed))
    (images / 'corrupt.jpg').write_bytes(b'not a jpeg at all')
    (images / 'notes.txt').write_text('not an image')
    return config, checkpoint, images


def decodes(log: Path) -> Counter:
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def test_outputs_failures_summary_and_one_decode(setup, tmp_path):
    config, checkpoint, images = setup
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'a.jpg').write_bytes((images / 'a.jpg').read_bytes())
    cv2.imwrite(str(tmp_path / 'dot.png'), np.zeros((1, 1), np.uint8))
    out = tmp_path / 'out'
    log = tmp_path / 'decodes.txt'
    proc = run_infer(
        config, checkpoint,
        images,  # folder: a.jpg, b.png, corrupt.jpg (not nested/)
        images / '**' / 'c.jpg',  # glob expanded in Python
        images / 'missing.jpg', images / 'none*.png',
        other / 'a.jpg',  # same stem: written as a_1.*
        tmp_path / 'dot.png', '--out', out, '--batch-size', 2,
        decode_log=log)
    stdout = proc.stdout
    assert proc.returncode == 1, stdout + proc.stderr  # some inputs failed

    for stem in ('a', 'b', 'c', 'a_1'):
        for ext in ('txt', 'json', 'png'):
            assert (out / f'{stem}.{ext}').is_file(), f'{stem}.{ext}'
    for stem in ('corrupt', 'missing', 'dot'):
        assert not list(out.glob(f'{stem}.*'))
    # every image file was decoded exactly once, drawing included
    assert decodes(log) == Counter({
        str(p): 1 for p in (images / 'a.jpg', images / 'b.png',
                            images / 'corrupt.jpg', images / 'nested/c.jpg',
                            other / 'a.jpg', tmp_path / 'dot.png')})

    record = json.loads((out / 'a.json').read_text())
    assert record['img_path'] == str(images / 'a.jpg')
    assert json.loads((out / 'a_1.json').read_text())['img_path'] == str(
        other / 'a.jpg')
    assert record['ori_shape'] == [128, 96]
    assert record['status'] == 'ok' and record['refusal'] is None
    assert record['report'] == (out / 'a.txt').read_text().strip()
    assert [r['name'] for r in record['regions']] == list(ANATOMICAL_REGIONS)
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
    assert summary.startswith('4 image(s) succeeded, 4 failed: ')
    # what failed and why: the loader's reason, without the repeated path
    assert 'corrupt.jpg (unreadable image: cannot decode the image' in summary
    assert 'none*.png (no file matches this pattern)' in summary
    assert 'missing.jpg (file not found)' in summary
    assert (f'{tmp_path / "dot.png"} (unreadable image: image is 1x1 '
            'pixels, below the minimum side of 32') in summary


def test_a_wrong_checkpoint_exits_with_2(setup, tmp_path):
    config, _, images = setup
    # a checkpoint that does not match: nothing is written
    state = FakeRegionReportModel().state_dict()
    state.pop('layer.bias')
    state['extra.weight'] = torch.zeros(1)
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, partial)
    out = tmp_path / 'out2'
    proc = run_infer(config, partial, images / 'a.jpg', '--out', out)
    assert proc.returncode == 2
    assert 'CheckpointMismatchError' in proc.stdout
    assert 'layer.bias' in proc.stdout and 'extra.weight' in proc.stdout
    assert '--allow-partial' in proc.stdout
    assert not out.exists() or not list(out.iterdir())


def test_an_extremity_is_refused_unless_allowed(setup, tmp_path):
    """pydicom-data's extremity radiograph (BodyPartExamined EXTREMITY),
    without a file extension in a folder, beside its chest radiograph."""
    config, checkpoint, _ = setup
    folder = tmp_path / 'dicom'
    folder.mkdir()
    (folder / 'extremity').symlink_to(real_data_file_or_skip('RG3_UNCR'))
    chest = real_data_file_or_skip('RG1_UNCR')
    out = tmp_path / 'out'
    log = tmp_path / 'decodes.txt'
    proc = run_infer(
        config, checkpoint, chest, folder, '--out', out, '--cfg-options',
        'test_dataloader.dataset.pipeline.2.scale=(256,256)', decode_log=log)
    stdout = proc.stdout
    assert proc.returncode == 1, stdout + proc.stderr
    assert decodes(log) == Counter({chest: 1, str(folder / 'extremity'): 1})
    refused = json.loads((out / 'extremity.json').read_text())
    assert refused['status'] == 'refused'
    assert 'EXTREMITY' in refused['refusal']
    assert refused['report'] == '' and refused['regions'] == []
    assert not (out / 'extremity.txt').exists()
    assert not (out / 'extremity.png').exists()
    assert f'refused {folder / "extremity"}: Not analysed' in stdout
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith('1 image(s) succeeded, 0 failed; 1 refused')
    assert '--allow-non-chest' in summary
    # the chest radiograph is analysed, with --cfg-options reaching the
    # pipeline: 1955 x 1841 at 256 px, so region 3's [6, 6, 14, 14] maps
    # back to x 1955 / 256
    record = json.loads((out / 'RG1_UNCR.json').read_text())
    assert record['status'] == 'ok' and (out / 'RG1_UNCR.png').is_file()
    np.testing.assert_allclose(record['regions'][3]['bbox'][:2],
                               [6 * 1841 / 241, 6 * 1955 / 256], atol=0.01)

    out = tmp_path / 'allowed'
    proc = run_infer(config, checkpoint, folder / 'extremity', '--out', out,
                     '--allow-non-chest')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    allowed = json.loads((out / 'extremity.json').read_text())
    assert allowed['status'] == 'ok' and len(allowed['regions']) == \
        NUM_REGIONS
    assert (out / 'extremity.txt').is_file()
    assert (out / 'extremity.png').is_file()
    (warning, ) = allowed['warnings']
    assert 'not a frontal chest radiograph' in warning
    assert 'EXTREMITY' in warning
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith('1 image(s) succeeded, 0 failed; 1 with '
                              'warnings')


def test_sr_beside_the_outputs_and_the_model_card(setup, tmp_path):
    """``--sr``: RG1 gets ``RG1_UNCR.sr.dcm`` whose regions (box, sentence)
    are the JSON's; a PNG gets none and its JSON says why; every JSON has
    the model card (here: a checkpoint without one)."""
    config, checkpoint, images = setup
    chest = real_data_file_or_skip('RG1_UNCR')
    out = tmp_path / 'out'
    proc = run_infer(config, checkpoint, chest, images / 'b.png', '--out',
                     out, '--sr')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((out / 'RG1_UNCR.json').read_text())
    assert record['sr'] == 'RG1_UNCR.sr.dcm' and record['sr_note'] is None
    from crrg.dicom import read_sr
    content = read_sr(out / 'RG1_UNCR.sr.dcm')
    selected = [r for r in record['regions'] if r['selected']]
    assert [r['index'] for r in content['regions']] == list(SELECTED)
    for got, want in zip(content['regions'], selected):
        np.testing.assert_allclose(got['bbox'], want['bbox'], atol=1e-3)
        assert got['sentence'] == want['sentence']
    assert content['report'] == record['report']
    assert any(p.startswith('model_card=unknown model — no card')
               for p in content['algorithm'])
    png = json.loads((out / 'b.json').read_text())
    assert png['sr'] is None and 'not a DICOM file' in png['sr_note']
    assert str(images) not in png['sr_note']
    assert not (out / 'b.sr.dcm').exists()
    card = record['model_card']
    assert card['summary'].startswith('unknown model — no card')
    assert 'Research use only' in card['notice']
    assert 'unknown model — no card' in proc.stdout


@pytest.mark.slow
def test_a_non_chest_picture_is_refused_unless_allowed(setup, tmp_path):
    """A JPEG without a header that is not laid out as a frontal chest (a
    sideways copy of a chest-like picture): refused by the picture check,
    exit code 1, no report; analysed with --allow-non-chest."""
    config, checkpoint, _ = setup
    image = tmp_path / 'sideways.jpg'
    cv2.imwrite(str(image), np.ascontiguousarray(chest_like(96, 96).T))
    out = tmp_path / 'out'
    proc = run_infer(config, checkpoint, image, '--out', out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    record = json.loads((out / 'sideways.json').read_text())
    assert record['status'] == 'refused' and record['report'] == ''
    assert 'does not look like a frontal chest radiograph' in \
        record['refusal']
    assert not (out / 'sideways.txt').exists()
    proc = run_infer(config, checkpoint, image, '--out', tmp_path / 'ok',
                     '--allow-non-chest')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / 'ok' / 'sideways.txt').is_file()


@pytest.mark.slow  # three runs of the tool: ~40 s
def test_a_folder_in_batches_matches_one_at_a_time(setup, tmp_path):
    """The folder engine (batches of 3, 2 decoding workers; or batches of
    2 shared out among 2 replicas) writes the same files as one image at a
    time in this process; the damaged file is a counted failure, not a
    crash."""
    config, checkpoint, images = setup
    for seed in range(3, 6):
        cv2.imwrite(str(images / f'd{seed}.png'), chest_like(128, 96, seed))
    runs = {}
    for name, options in (('folder', ('--batch-size', 3, '--workers', 2)),
                          ('replicas', ('--batch-size', 2, '--replicas', 2)),
                          ('single', ('--batch-size', 1, '--workers', 0))):
        out = tmp_path / name
        proc = run_infer(config, checkpoint, images, '--out', out, *options)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        summary = proc.stdout.strip().splitlines()[-1]
        assert summary.startswith('5 image(s) succeeded, 1 failed: '), \
            summary
        assert 'corrupt.jpg (unreadable image' in summary
        runs[name] = {p.name: p.read_bytes() for p in out.iterdir()}
    # a.jpg, b.png, d3-d5.png: json, txt and png each; nothing for corrupt
    assert len(runs['single']) == 15
    assert runs['folder'] == runs['single']
    assert runs['replicas'] == runs['single']
