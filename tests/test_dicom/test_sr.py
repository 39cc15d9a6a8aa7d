"""DICOM SRs of a tiny RRG model's predictions on the real radiograph RG1
(pydicom-data; uncompressed and JPEG 2000), read back with pydicom and
highdicom; JPEG inputs, refused predictions and size mismatches refused."""
import hashlib
from pathlib import Path

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import ComprehensiveSRStorage
from fake_report_models import chest_like

from crrg.apis import ReportInferencer
from crrg.dicom import (ModelInfo, SRSourceError, build_sr, read_sr,
                        region_code, write_sr)
from crrg.testing.real_data import real_data_file_or_skip
from crrg.testing.tiny_rrg import make_tiny_rrg

REPO = Path(__file__).resolve().parents[2]
RG1 = ('RG1_UNCR', 'RG1_UNCI', 'RG1_J2KR', 'RG1_J2KI')


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny_rrg')
    config, checkpoint = make_tiny_rrg(str(out), str(REPO))
    inferencer = ReportInferencer(model=config, weights=checkpoint)
    return inferencer, ModelInfo.from_files(config, checkpoint), checkpoint


def test_model_info_hashes_the_checkpoint(tiny_model):
    _, info, checkpoint = tiny_model
    expected = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    assert info.checkpoint_sha256 == expected
    assert info.config_name == 'tiny_rrg'


@pytest.mark.parametrize('name', RG1)
def test_sr_of_rg1_reads_back(name, tiny_model, tmp_path):
    inferencer, info, _ = tiny_model
    path = real_data_file_or_skip(name)
    (pred, ) = inferencer([path])['predictions']
    selected = [r for r in pred['regions'] if r['selected']]
    assert selected, 'the tiny model selected no region'
    out = write_sr(pred, path, tmp_path / 'sub' / 'rg1_sr.dcm', info)

    source = pydicom.dcmread(path, stop_before_pixels=True)
    sr = pydicom.dcmread(out)
    assert sr.SOPClassUID == ComprehensiveSRStorage and sr.Modality == 'SR'
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == '1500'
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert sr.PatientID == source.PatientID
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.Manufacturer == 'crrg' and sr.VerificationFlag == 'UNVERIFIED'
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == source.StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
        source.SOPInstanceUID

    content = read_sr(out)  # highdicom
    assert content['referenced'] == [
        (source.StudyInstanceUID, source.SeriesInstanceUID,
         source.SOPInstanceUID)
    ]
    assert content['report'] == pred['report'].strip()
    assert f'checkpoint_sha256={info.checkpoint_sha256}' in \
        content['algorithm']
    assert 'config=tiny_rrg' in content['algorithm']
    assert [r['index'] for r in content['regions']] == [
        r['index'] for r in selected]
    for got, want in zip(content['regions'], selected):
        assert got['name'] == want['name']
        # float32 SCOORDs: equal to the prediction's box to the pixel
        np.testing.assert_allclose(got['bbox'], want['bbox'], atol=1e-3)
        assert np.array_equal(np.round(got['bbox']), np.round(want['bbox']))
        assert got['sentence'] == want['sentence'].strip()
        assert got['selection_score'] == pytest.approx(
            want['selection_score'])
        assert got['score'] == pytest.approx(want['score'])
        code = region_code(want['name'])
        assert got['finding_site'][:2] == (code.location.value,
                                           code.location.scheme_designator)
    # highdicom's own parser takes the document as a TID 1500 report
    parsed = hd.sr.ComprehensiveSR.from_dataset(sr)
    assert isinstance(parsed.content, hd.sr.MeasurementReport)
    assert len(parsed.content.get_planar_roi_measurement_groups()) == len(
        selected)


def test_warnings_zero_regions_and_stable_uids(tiny_model, tmp_path):
    _, info, _ = tiny_model
    path = real_data_file_or_skip('RG1_UNCR')
    source = pydicom.dcmread(path, stop_before_pixels=True)
    pred = dict(img_path=path, ori_shape=[source.Rows, source.Columns],
                report='Effusion ≥ 5 mm, café.', regions=[],
                warnings=['the DICOM header says this is not a chest '
                          'radiograph'])
    sr = build_sr(pred, source, info)
    sr.save_as(tmp_path / 'sr.dcm', enforce_file_format=True)
    content = read_sr(tmp_path / 'sr.dcm')
    assert content['regions'] == []
    assert content['report'] == pred['report']  # UTF-8, not Latin-1
    assert content['warnings'] == pred['warnings']
    assert pydicom.dcmread(tmp_path / 'sr.dcm').PatientName == \
        source.PatientName
    # the same image and model give the same SR; another model another one
    assert build_sr(pred, path, info).SOPInstanceUID == sr.SOPInstanceUID
    other = ModelInfo(info.config_name, '0' * 64)
    assert build_sr(pred, path, other).SOPInstanceUID != sr.SOPInstanceUID


def test_inputs_that_cannot_give_an_sr(tiny_model, tmp_path):
    inferencer, info, _ = tiny_model
    jpeg = tmp_path / 'cxr.jpg'
    cv2.imwrite(str(jpeg), chest_like(96, 80))
    (pred, ) = inferencer([str(jpeg)])['predictions']
    with pytest.raises(SRSourceError, match='cxr.jpg: not a DICOM file'):
        write_sr(pred, jpeg, tmp_path / 'cxr_sr.dcm', info)
    assert not (tmp_path / 'cxr_sr.dcm').exists()

    path = real_data_file_or_skip('RG1_UNCR')
    with pytest.raises(SRSourceError, match=r'\[96, 80\].*\[1955, 1841\]'):
        build_sr(pred, path, info)
    refused = dict(pred, ori_shape=[1955, 1841], status='refused',
                   refusal='not a chest radiograph', report='', regions=[])
    with pytest.raises(SRSourceError, match='refused'):
        build_sr(refused, path, info)
