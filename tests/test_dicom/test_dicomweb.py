"""DicomWebSettings (environment, credentials kept out of URLs and reprs)
and the worker's per-image failure handling against a scripted server
(the real round trip through Orthanc is in
tests/test_tools/test_dicomweb_worker.py)."""
import copy
import logging
import os

import numpy as np
import pydicom
import pytest
import requests
from pydicom.dataset import Dataset

from crrg.dicom import (DicomWebReportWorker, DicomWebSettings, ModelInfo,
                        SRSourceError)
from crrg.dicom.dicomweb import referenced_instances
from crrg.testing.real_data import real_data_file_or_skip


def test_settings_from_environment(tmp_path):
    env = {
        'CRRG_DICOMWEB_URL': 'https://pacs.example.org:8443/dicom-web',
        'CRRG_DICOMWEB_USERNAME': 'worker',
        'CRRG_DICOMWEB_PASSWORD': 'pw-from-env',
    }
    settings = DicomWebSettings.from_env(environ=env)
    assert settings.url == env['CRRG_DICOMWEB_URL']
    assert (settings.username, settings.password) == ('worker', 'pw-from-env')
    assert settings.verify is True
    assert 'pw-from-env' not in repr(settings)
    session = settings.client()._session
    assert session.auth == ('worker', 'pw-from-env') and session.verify

    secret = tmp_path / 'password'
    secret.write_text('pw-from-file\n')
    bundle = tmp_path / 'ca.pem'
    bundle.write_text('')
    settings = DicomWebSettings.from_env(
        url='http://127.0.0.1:8042/dicom-web', password_file=str(secret),
        environ=dict(env, CRRG_DICOMWEB_CA_BUNDLE=str(bundle)))
    assert settings.password == 'pw-from-file'
    assert settings.verify == str(bundle)
    off = DicomWebSettings.from_env(
        environ=dict(CRRG_DICOMWEB_URL=env['CRRG_DICOMWEB_URL'],
                     CRRG_DICOMWEB_VERIFY='0'))
    assert off.verify is False and off.username is None


def test_settings_refuse_unsafe_or_incomplete_values(tmp_path):
    with pytest.raises(ValueError, match='no DICOMweb URL'):
        DicomWebSettings.from_env(environ={})
    with pytest.raises(ValueError, match='carries credentials') as err:
        DicomWebSettings(url='https://user:hunter2@pacs.example.org/dw')
    assert 'hunter2' not in str(err.value)
    with pytest.raises(ValueError, match='both a DICOMweb username'):
        DicomWebSettings(url='https://pacs.example.org/dw', username='u')
    with pytest.raises(ValueError, match='not an http'):
        DicomWebSettings(url='ftp://pacs.example.org/dw')
    with pytest.raises(FileNotFoundError, match='CA bundle'):
        DicomWebSettings(url='https://pacs.example.org/dw',
                         verify=str(tmp_path / 'missing.pem'))


def test_plain_http_credentials_and_disabled_tls_are_warned(caplog):
    logger = logging.getLogger('test-dicomweb-settings')
    with caplog.at_level(logging.WARNING, logger=logger.name):
        DicomWebSettings(url='http://pacs.example.org/dw', username='u',
                         password='secret-pw').client(logger)
        DicomWebSettings(url='https://pacs.example.org/dw',
                         verify=False).client(logger)
    assert 'over unencrypted HTTP' in caplog.text
    assert 'verification is off' in caplog.text
    assert 'secret-pw' not in caplog.text


def _json(**values) -> dict:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds.to_json_dict()


class ScriptedServer:
    """One study, three radiographs: a chest image whose WADO-RS retrieval
    fails with a connection error the first time, one whose pixels the
    inferencer cannot read, and one already referenced by a crrg SR."""

    STUDY = '1.2.3'
    SERIES = '1.2.3.1'

    def __init__(self, chest: Dataset):
        self.chest = chest
        self.stored = []
        self.retrievals = {}

    def search_for_series(self, study_instance_uid=None, search_filters=None,
                          get_remaining=False):
        if search_filters == {'Modality': 'SR'}:
            return [_json(SeriesInstanceUID='1.2.3.9')]
        if search_filters['Modality'] == 'CR':
            return [_json(StudyInstanceUID=self.STUDY,
                          SeriesInstanceUID=self.SERIES)]
        return []

    def retrieve_series_metadata(self, study, series):
        sr = Dataset()
        sr.Manufacturer = 'crrg'
        ref = Dataset()
        ref.ReferencedSOPInstanceUID = '1.2.3.1.3'
        item = Dataset()
        item.ReferencedSOPSequence = [ref]
        study_item = Dataset()
        study_item.ReferencedSeriesSequence = [item]
        sr.CurrentRequestedProcedureEvidenceSequence = [study_item]
        other = Dataset()
        other.Manufacturer = 'another vendor'
        return [sr.to_json_dict(), other.to_json_dict()]

    def search_for_instances(self, study, search_filters=None,
                             get_remaining=False):
        if search_filters['Modality'] != 'CR':
            return []
        return [
            _json(SeriesInstanceUID=self.SERIES, SOPInstanceUID=f'1.2.3.1.{i}')
            for i in (1, 2, 3)
        ]

    def retrieve_instance_metadata(self, study, series, sop):
        return _json(Modality='CR', BodyPartExamined='CHEST')

    def retrieve_instance(self, study, series, sop, media_types=None):
        self.retrievals[sop] = self.retrievals.get(sop, 0) + 1
        if sop == '1.2.3.1.1' and self.retrievals[sop] == 1:
            raise requests.ConnectionError('connection reset')
        ds = copy.deepcopy(self.chest)
        ds.SOPInstanceUID = sop
        if sop == '1.2.3.1.2':
            ds.PixelData = ds.PixelData[:100]
        return ds

    def store_instances(self, datasets):
        self.stored.extend(datasets)
        return Dataset()


class ReadingInferencer:
    """Decodes the file as the X-ray loader would and predicts no region."""

    def __call__(self, paths):
        ds = pydicom.dcmread(paths[0])
        ds.pixel_array
        return {'predictions': [dict(
            img_path=paths[0], ori_shape=[ds.Rows, ds.Columns],
            report='no finding.', regions=[], warnings=[])]}


def test_worker_retries_network_errors_only(caplog):
    chest = pydicom.dcmread(real_data_file_or_skip('RG1_UNCR'))
    server = ScriptedServer(chest)
    logger = logging.getLogger('test-dicomweb-worker')
    worker = DicomWebReportWorker(server, ReadingInferencer(),
                                  ModelInfo('tiny', 'a' * 64), logger=logger)
    with caplog.at_level(logging.INFO, logger=logger.name):
        first, second = worker.run(poll_interval=0.01, max_polls=2)
    assert (first.written, first.failed, first.already_reported) == (0, 2, 1)
    # the connection error is retried, the unreadable image is not
    assert (second.written, second.failed, second.already_reported) == (1, 0,
                                                                        1)
    assert server.retrievals == {'1.2.3.1.1': 2, '1.2.3.1.2': 1}
    assert [sr.CurrentRequestedProcedureEvidenceSequence[0].
            ReferencedSeriesSequence[0].ReferencedSOPSequence[0].
            ReferencedSOPInstanceUID for sr in server.stored] == ['1.2.3.1.1']
    assert 'instance 1.2.3.1.1: network error' in caplog.text
    assert ('study 1.2.3 series 1.2.3.1 instance 1.2.3.1.2: failed, skipped'
            in caplog.text)
    assert referenced_instances(server.stored[0]) == {'1.2.3.1.1'}


class ChunkServer:
    """Two studies of small chest-like CR images (their own pixels each):
    in study A, instance A.2's pixel data is cut short; in study B,
    instance B.1's WADO-RS retrieval fails with a connection error the first
    time and B.3's header names a hand."""

    STUDIES = {'1.5.1': ('1.5.1.1', 4), '1.5.2': ('1.5.2.1', 3)}

    def __init__(self, images: dict):
        self.images = images  # SOP instance UID -> Dataset
        self.stored = []
        self.retrievals = {}

    def search_for_series(self, study_instance_uid=None, search_filters=None,
                          get_remaining=False):
        if search_filters['Modality'] == 'SR':
            return [_json(SeriesInstanceUID=uid) for uid in {
                sr.SeriesInstanceUID for sr in self.stored
                if sr.StudyInstanceUID == study_instance_uid}]
        if search_filters['Modality'] != 'CR':
            return []
        return [_json(StudyInstanceUID=study, SeriesInstanceUID=series)
                for study, (series, _) in self.STUDIES.items()]

    def retrieve_series_metadata(self, study, series):
        return [sr.to_json_dict() for sr in self.stored
                if sr.SeriesInstanceUID == series]

    def search_for_instances(self, study, search_filters=None,
                             get_remaining=False):
        if search_filters['Modality'] != 'CR':
            return []
        series, count = self.STUDIES[study]
        return [_json(SeriesInstanceUID=series,
                      SOPInstanceUID=f'{series}.{i}')
                for i in range(1, count + 1)]

    def retrieve_instance_metadata(self, study, series, sop):
        part = 'HAND' if sop == '1.5.2.1.3' else 'CHEST'
        return _json(Modality='CR', BodyPartExamined=part)

    def retrieve_instance(self, study, series, sop, media_types=None):
        self.retrievals[sop] = self.retrievals.get(sop, 0) + 1
        if sop == '1.5.2.1.1' and self.retrievals[sop] == 1:
            raise requests.ConnectionError('connection reset')
        return copy.deepcopy(self.images[sop])

    def store_instances(self, datasets):
        self.stored.extend(datasets)
        return Dataset()


@pytest.fixture(scope='module')
def chunk_images(tmp_path_factory):
    from fake_report_models import chest_like

    from crrg.datasets.synthetic.rsna import write_dicom
    root = tmp_path_factory.mktemp('cr')
    images = {}
    for study, (series, count) in ChunkServer.STUDIES.items():
        for i in range(1, count + 1):
            sop = f'{series}.{i}'
            write_dicom(str(root / f'{sop}.dcm'),
                        chest_like(96 + 8 * i, 80 + 4 * len(images),
                                   len(images)), sop)
            ds = pydicom.dcmread(str(root / f'{sop}.dcm'))
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
            # the patient and study modules an SR copies (type 2: empty)
            for key in ('PatientName', 'PatientBirthDate', 'PatientSex',
                        'StudyID', 'AccessionNumber', 'StudyDate',
                        'StudyTime', 'ReferringPhysicianName'):
                setattr(ds, key, '')
            if sop == '1.5.1.1.2':
                ds.PixelData = ds.PixelData[:100]
            images[sop] = ds
    return images


@pytest.fixture(scope='module')
def content_inferencer(tmp_path_factory):
    """A ReportInferencer of the fake model whose boxes move with the
    pixels (so an image given another's prediction would show)."""
    from fake_report_models import CONFIG
    from mmengine.config import Config

    from crrg.apis import ReportInferencer
    config = tmp_path_factory.mktemp('cfg') / 'fake.py'
    config.write_text(
        CONFIG.replace("'FakeRegionReportModel'", "'ContentBoxReportModel'"))
    return ReportInferencer(model=Config.fromfile(str(config)))


def poll_twice(inferencer, images, caplog, **options):
    """Two polls of a fresh ChunkServer: the stats, the stored SRs' contents
    by referenced instance, the server and the log."""
    from crrg.dicom import read_sr
    server = ChunkServer(images)
    logger = logging.getLogger('test-dicomweb-chunks')
    worker = DicomWebReportWorker(server, inferencer,
                                  ModelInfo('fake', 'b' * 64), logger=logger,
                                  **options)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logger.name):
        history = worker.run(poll_interval=0.01, max_polls=2)
    contents = {}
    for sr in server.stored:
        content = read_sr(sr)
        (uids, ) = content['referenced']
        contents[uids[2]] = (content['report'],
                             [(r['name'], np.round(r['bbox'], 3).tolist())
                              for r in content['regions']])
    stats = [(s.written, s.already_reported, s.refused, s.failed)
             for s in history]
    return stats, contents, server, caplog.text


def test_worker_reports_chunks_in_batches(content_inferencer, chunk_images,
                                          caplog, monkeypatch):
    """batch_size 3: the SRs of one image at a time, the model called once
    per chunk on the images that reached it; the damaged, refused and
    unreachable images fail alone."""
    batches = []
    forward = content_inferencer.forward

    def counting(data, **kwargs):
        batches.append(len(data['inputs']))
        return forward(data, **kwargs)

    monkeypatch.setattr(content_inferencer, 'forward', counting)
    alone = poll_twice(content_inferencer, chunk_images, caplog)
    assert batches == [1, 1, 1, 1, 1]
    batches.clear()
    stats, contents, server, log = poll_twice(
        content_inferencer, chunk_images, caplog, batch_size=3)
    # chunks [A1 A2 A3] [A4 B1 B2] [B3]: A2 unreadable, B1 unreachable,
    # B3 refused; B1 alone at the second poll
    assert batches == [2, 2, 1]
    # written, already reported, refused, failed per poll
    assert stats == alone[0] == [(4, 0, 1, 2), (1, 4, 0, 0)]
    assert contents == alone[1]
    assert sorted(contents) == [
        '1.5.1.1.1', '1.5.1.1.3', '1.5.1.1.4', '1.5.2.1.1', '1.5.2.1.2']
    assert len({boxes[0][1][0] for _, boxes in contents.values()}) == 5
    assert server.retrievals == {
        '1.5.1.1.1': 1, '1.5.1.1.2': 1, '1.5.1.1.3': 1, '1.5.1.1.4': 1,
        '1.5.2.1.1': 2, '1.5.2.1.2': 1}
    assert ('study 1.5.1 series 1.5.1.1 instance 1.5.1.1.2: failed, '
            'skipped: unreadable image: ') in log
    assert 'instance 1.5.2.1.1: network error, retried' in log
    assert "instance 1.5.2.1.3: refused, not a chest radiograph" in log
    assert log.count(': stored SR ') == 5


def test_worker_shares_chunks_among_replicas(content_inferencer,
                                             chunk_images, caplog,
                                             monkeypatch):
    """Two replicas: the model runs in the forked copies, and the SRs are
    those of one image at a time."""
    alone = poll_twice(content_inferencer, chunk_images, caplog)
    parent = os.getpid()
    in_parent = []
    forward = content_inferencer.forward

    def counting(data, **kwargs):
        if os.getpid() == parent:
            in_parent.append(len(data['inputs']))
        return forward(data, **kwargs)

    monkeypatch.setattr(content_inferencer, 'forward', counting)
    stats, contents, _, log = poll_twice(
        content_inferencer, chunk_images, caplog, batch_size=2,
        num_replicas=2)
    # chunks [A1 A2 A3 A4] [B1 B2 B3] then [B1]: the first chunk's two
    # batches ran in the replicas; the chunks of one batch (B2, then B1)
    # the stream keeps in this process
    assert in_parent == [1, 1]
    assert stats == alone[0] and contents == alone[1]
    assert 'instance 1.5.1.1.2: failed, skipped: unreadable image' in log


def test_worker_builds_the_srs_in_forked_processes(content_inferencer,
                                                   chunk_images, caplog,
                                                   monkeypatch, tmp_path):
    """With replicas, a chunk's SRs are built by forked processes (highdicom
    is several times the model's time per image); an SR that fails there
    fails its image alone."""
    import crrg.dicom.dicomweb as dicomweb
    alone = poll_twice(content_inferencer, chunk_images, caplog)
    build_sr = dicomweb.build_sr

    def noting_pid(prediction, path, model_info):
        (tmp_path / f'{os.getpid()}-{os.path.basename(path)}').touch()
        if path.endswith('1.5.1.1.3.dcm'):
            raise SRSourceError('no SR for this one')
        return build_sr(prediction, path, model_info)

    monkeypatch.setattr(dicomweb, 'build_sr', noting_pid)
    stats, contents, _, log = poll_twice(
        content_inferencer, chunk_images, caplog, batch_size=2,
        num_replicas=2)
    built = {p.name.split('-', 1)[1]: int(p.name.split('-')[0])
             for p in tmp_path.iterdir()}
    # the first chunk's three readable images in the forked processes; the
    # chunks with one SR (B2, then B1) in this one
    assert {sop for sop, pid in built.items() if pid != os.getpid()} == {
        '1.5.1.1.1.dcm', '1.5.1.1.3.dcm', '1.5.1.1.4.dcm'}
    assert built['1.5.2.1.2.dcm'] == built['1.5.2.1.1.dcm'] == os.getpid()
    assert ('instance 1.5.1.1.3: failed, skipped: SRSourceError: no SR for '
            'this one') in log
    del alone[1]['1.5.1.1.3']
    assert contents == alone[1]
    assert stats[0][0] == alone[0][0][0] - 1  # written
    assert stats[0][3] == alone[0][0][3] + 1  # failed


def test_worker_refuses_bad_batch_options():
    for options, name in ((dict(batch_size=0), 'batch_size'),
                          (dict(num_replicas=-1), 'num_replicas')):
        with pytest.raises(ValueError, match=f'{name} must be an integer'):
            DicomWebReportWorker(None, None, ModelInfo('fake', 'b' * 64),
                                 **options)


class StoppingStream:
    """A batched inferencer whose stream yields its first batch (its second
    image's prediction refused by the model) and then, when more images
    wait, stops with an error, as when a replica is killed."""

    def __init__(self):
        self.calls = []

    def stream(self, paths, batch_size, num_replicas, skip_failed):
        self.calls.append((len(paths), batch_size, num_replicas,
                           skip_failed))
        predictions = []
        for path in paths[:batch_size]:
            header = pydicom.dcmread(path, stop_before_pixels=True)
            predictions.append(dict(
                img_path=path, ori_shape=[header.Rows, header.Columns],
                report='no finding.', regions=[], warnings=[]))
        if len(predictions) > 1:
            predictions[1].update(status='refused',
                                  refusal='not a frontal chest radiograph')
        yield {'predictions': predictions, 'failures': []}
        if len(paths) > batch_size:
            raise RuntimeError('a replica process died (exit code -9)')


def test_worker_stream_stopping_fails_the_rest_of_its_chunk(
        chunk_images, caplog):
    server = ChunkServer(chunk_images)
    inferencer = StoppingStream()
    worker = DicomWebReportWorker(server, inferencer,
                                  ModelInfo('fake', 'b' * 64),
                                  logger=logging.getLogger('test-stopping'),
                                  batch_size=2, num_replicas=2)
    with caplog.at_level(logging.INFO, logger='test-stopping'):
        stats = worker.run_once()
    # chunks [A1 A2 A3 A4] [B1 B2 B3]: B1 unreachable, B3 refused by header
    assert inferencer.calls == [(4, 2, 2, True), (1, 2, 2, True)]
    assert (stats.written, stats.refused, stats.failed) == (2, 2, 3)
    assert [sr.CurrentRequestedProcedureEvidenceSequence[0].
            ReferencedSeriesSequence[0].ReferencedSOPSequence[0].
            ReferencedSOPInstanceUID for sr in server.stored] == [
                '1.5.1.1.1', '1.5.2.1.2']
    assert ('instance 1.5.1.1.2: refused, not a chest radiograph: not a '
            'frontal') in caplog.text
    for sop in ('1.5.1.1.3', '1.5.1.1.4'):
        assert (f'instance {sop}: failed, skipped: RuntimeError: a replica '
                'process died') in caplog.text
    assert worker._given_up == {'1.5.1.1.2', '1.5.1.1.3', '1.5.1.1.4',
                                '1.5.2.1.3'}
