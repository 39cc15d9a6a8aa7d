"""crrg.apis.run_dicomweb_worker (tools/dicomweb_worker.py) against a real
PACS: Orthanc with its DICOMweb plugin (Debian's ``orthanc`` and
``orthanc-dicomweb``, installed with apt-get when missing, as the browser test
installs Chromium), started on a free loopback port with HTTP basic auth. The
real radiographs RG1 (chest) and RG3 (extremity) and a corrupt instance in
RG1's study go in through STOW-RS; the worker, with a tiny RRG model, must
store exactly one crrg SR, for RG1, log RG3's refusal and the corrupt
instance's failure with their UIDs, never log the password, and add nothing
when run again."""
import copy
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from crrg.apis import ReportInferencer, run_dicomweb_worker
from crrg.dicom import DicomWebSettings, read_sr
from crrg.testing.orthanc import ORTHANC, find_orthanc, orthanc_server
from crrg.testing.real_data import real_data_file_or_skip
from crrg.testing.tiny_rrg import make_tiny_rrg

REPO = Path(__file__).resolve().parents[2]
USERNAME = 'crrg-worker'


@pytest.fixture(scope='module')
def orthanc_install() -> tuple[str, str]:
    """Orthanc and its DICOMweb plugin, installed with apt-get when
    missing."""
    if find_orthanc() is None:
        if shutil.which('apt-get') is None or os.geteuid() != 0:
            pytest.skip('Orthanc is not installed and cannot be installed '
                        'here (needs root and apt-get): install Debian\'s '
                        '"orthanc" and "orthanc-dicomweb" packages to run '
                        'the DICOMweb round trip')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        for command in (['apt-get', 'update', '-qq'], [
                'apt-get', 'install', '-y', '-qq', '--no-install-recommends',
                'orthanc', 'orthanc-dicomweb'
        ]):
            proc = subprocess.run(command, env=env, capture_output=True,
                                  text=True, timeout=900)
            if proc.returncode != 0:
                pytest.skip(f'`{" ".join(command)}` could not install '
                            f'Orthanc: {proc.stderr.strip()[-500:]}')
    found = find_orthanc()
    if found is None:
        pytest.skip('the orthanc / orthanc-dicomweb packages installed no '
                    f'{ORTHANC} or DICOMweb plugin')
    return found


@pytest.fixture(scope='module')
def orthanc(orthanc_install, tmp_path_factory):
    """A fresh Orthanc on 127.0.0.1 with DICOMweb and basic auth."""
    tmp = tmp_path_factory.mktemp('orthanc')
    with orthanc_server(*orthanc_install, str(tmp), USERNAME,
                        name='crrg-test') as server:
        yield dict(url=server['url'], password=server['auth'][1], tmp=tmp)


def corrupt_copy(ds: pydicom.Dataset) -> pydicom.Dataset:
    """RG1's header in a new instance of the same series whose pixel data
    is cut short: the archive stores it, no decoder can read it."""
    bad = copy.deepcopy(ds)
    bad.SOPInstanceUID = generate_uid()
    bad.InstanceNumber = 2
    bad.PixelData = ds.PixelData[:1000]
    return bad


def sr_instances(client, study_uid: str) -> list:
    return client.search_for_instances(
        study_uid, search_filters={'Modality': 'SR'})


@pytest.mark.slow
def test_round_trip_through_orthanc(orthanc, tmp_path, monkeypatch):
    rg1 = pydicom.dcmread(real_data_file_or_skip('RG1_UNCR'))
    rg3 = pydicom.dcmread(real_data_file_or_skip('RG3_UNCR'))
    bad = corrupt_copy(rg1)
    client = DicomWebSettings(url=orthanc['url'], username=USERNAME,
                              password=orthanc['password']).client()
    response = client.store_instances([rg1, rg3, bad])
    assert not response.get('FailedSOPSequence')

    config, checkpoint = make_tiny_rrg(str(tmp_path), str(REPO))
    password_file = tmp_path / 'password'
    password_file.write_text(orthanc['password'] + '\n')
    first_log, second_log = tmp_path / 'first.log', tmp_path / 'second.log'
    code = run_dicomweb_worker(
        config, checkpoint, url=orthanc['url'], username=USERNAME,
        password_file=str(password_file), log_file=str(first_log))
    assert code == 1  # the corrupt instance failed
    first = first_log.read_text()

    # exactly one crrg SR, in RG1's study, referencing RG1
    (found, ) = sr_instances(client, rg1.StudyInstanceUID)
    assert sr_instances(client, rg3.StudyInstanceUID) == []
    series_uid = found['0020000E']['Value'][0]
    sr_uid = found['00080018']['Value'][0]
    sr = client.retrieve_instance(rg1.StudyInstanceUID, series_uid, sr_uid)
    content = read_sr(sr)
    assert content['referenced'] == [(rg1.StudyInstanceUID,
                                      rg1.SeriesInstanceUID,
                                      rg1.SOPInstanceUID)]
    # the same boxes as the model's own prediction on the file
    (pred, ) = ReportInferencer(model=config, weights=checkpoint)(
        [real_data_file_or_skip('RG1_UNCR')])['predictions']
    selected = [r for r in pred['regions'] if r['selected']]
    assert [r['name'] for r in content['regions']] == [
        r['name'] for r in selected]
    np.testing.assert_allclose([r['bbox'] for r in content['regions']],
                               [r['bbox'] for r in selected], atol=1e-3)
    assert content['report'] == pred['report'].strip()

    # the refusal and the failure, each with the image's UIDs
    assert (f'study {rg3.StudyInstanceUID} series {rg3.SeriesInstanceUID} '
            f'instance {rg3.SOPInstanceUID}: refused, not a chest '
            "radiograph: BodyPartExamined is 'EXTREMITY'") in first
    assert (f'study {rg1.StudyInstanceUID} series {rg1.SeriesInstanceUID} '
            f'instance {bad.SOPInstanceUID}: failed, skipped') in first
    assert f'instance {rg1.SOPInstanceUID}: stored SR {sr_uid}' in first
    assert '1 SR(s) written' in first

    # a second run (password from the environment) adds nothing
    monkeypatch.setenv('CRRG_DICOMWEB_PASSWORD', orthanc['password'])
    monkeypatch.setenv('CRRG_DICOMWEB_URL', orthanc['url'])
    assert run_dicomweb_worker(
        config, checkpoint, username=USERNAME, log_file=str(second_log)) == 1
    second = second_log.read_text()
    assert '0 SR(s) written, 1 image(s) already reported' in second
    assert len(sr_instances(client, rg1.StudyInstanceUID)) == 1
    for log in (first, second):
        assert orthanc['password'] not in log

    # a new study of two copies of RG1 and a corrupt instance, reported in
    # batches of 2 on 2 replicas: the SRs of one image at a time, the
    # corrupt instances failing alone
    study, series = generate_uid(), generate_uid()
    copies = []
    for number in (1, 2):
        twin = copy.deepcopy(rg1)
        twin.StudyInstanceUID, twin.SeriesInstanceUID = study, series
        twin.SOPInstanceUID, twin.InstanceNumber = generate_uid(), number
        copies.append(twin)
    assert not client.store_instances(
        copies + [corrupt_copy(copies[0])]).get('FailedSOPSequence')
    batched_log = tmp_path / 'batched.log'
    assert run_dicomweb_worker(
        config, checkpoint, username=USERNAME, log_file=str(batched_log),
        batch_size=2, num_replicas=2) == 1
    batched = batched_log.read_text()
    assert ('2 SR(s) written, 1 image(s) already reported, 1 refused, '
            '2 failed') in batched
    found = sr_instances(client, study)
    assert len(found) == 2
    for item in found:
        content = read_sr(client.retrieve_instance(
            study, item['0020000E']['Value'][0],
            item['00080018']['Value'][0]))
        assert content['referenced'][0][2] in {
            twin.SOPInstanceUID for twin in copies}
        assert [r['name'] for r in content['regions']] == [
            r['name'] for r in selected]
        np.testing.assert_allclose([r['bbox'] for r in content['regions']],
                                   [r['bbox'] for r in selected], atol=1e-3)
        assert content['report'] == pred['report'].strip()


def test_worker_refuses_settings_without_url(tmp_path, monkeypatch):
    monkeypatch.delenv('CRRG_DICOMWEB_URL', raising=False)
    log = tmp_path / 'worker.log'
    assert run_dicomweb_worker('config.py', 'ckpt.pth',
                               log_file=str(log)) == 2
    assert 'no DICOMweb URL' in log.read_text()
    assert run_dicomweb_worker(
        'config.py', 'ckpt.pth', url='http://127.0.0.1:1/dicom-web',
        poll_interval=0, log_file=str(log)) == 2
    assert 'the poll interval must be a positive number' in log.read_text()
    for options, name in ((dict(batch_size=0), 'batch_size'),
                          (dict(num_replicas=0), 'num_replicas')):
        assert run_dicomweb_worker(
            'config.py', 'ckpt.pth', url='http://127.0.0.1:1/dicom-web',
            log_file=str(log), **options) == 2
        assert f'{name} must be an integer >= 1, got 0' in log.read_text()


def test_tool_passes_its_batch_options(monkeypatch):
    """--batch-size and --replicas reach run_dicomweb_worker (defaults 1)."""
    spec = importlib.util.spec_from_file_location(
        'dicomweb_worker_tool', REPO / 'tools' / 'dicomweb_worker.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    calls = []
    monkeypatch.setattr(tool, 'run_dicomweb_worker',
                        lambda *args, **kwargs: calls.append(kwargs) or 0)
    for argv in (['cfg.py', 'ckpt.pth'],
                 ['cfg.py', 'ckpt.pth', '--batch-size', '4', '--replicas',
                  '2']):
        monkeypatch.setattr(sys, 'argv', ['dicomweb_worker.py'] + argv)
        assert tool.main() == 0
    assert [(c['batch_size'], c['num_replicas']) for c in calls] == [(1, 1),
                                                                     (4, 2)]


def test_tool_passes_its_arguments(tmp_path, monkeypatch):
    """The script's flags reach run_dicomweb_worker: a missing config named
    on the command line is the setup failure (exit code 2) it logs."""
    monkeypatch.setenv('CRRG_DICOMWEB_URL', 'http://127.0.0.1:1/dicom-web')
    log = tmp_path / 'worker.log'
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'dicomweb_worker.py'),
        str(tmp_path / 'missing_config.py'), 'ckpt.pth', '--log-file',
        str(log), '--timeout', '5'
    ], cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'missing_config.py' in log.read_text()
