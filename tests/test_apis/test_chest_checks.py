"""The picture check that refuses non-chest inputs without a DICOM header
(FrontalChestLayoutCheck), on the synthetic twins and the real images."""
import numpy as np
import pydicom
import pytest
from fake_report_models import CONFIG

from crrg.apis import (DEFAULT_CHEST_CHECKS, FrontalChestLayoutCheck,
                       ReportInferencer)
from crrg.apis.chest_checks import header_says_frontal_chest
from crrg.registry import TRANSFORMS
from crrg.testing.real_data import real_data_file_or_skip
from crrg.datasets.synthetic.iu_xray import make_synthetic_iu_xray

PIXELS_ONLY = FrontalChestLayoutCheck(trust_dicom_header=False)


def load(path):
    loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
    results = loader(dict(img_path=str(path)))
    results.setdefault('not_chest_reasons', [])
    return results


def test_twin_frontals_pass_and_laterals_are_refused(synthetic_twin,
                                                     tmp_path):
    root, _ = synthetic_twin
    images = sorted((root / 'mimic-cxr-jpg' / 'files').rglob('*.jpg'))
    import gzip
    import csv
    with gzip.open(root / 'mimic-cxr-jpg' / 'mimic-cxr-2.0.0-metadata.csv.gz',
                   'rt') as f:
        views = {r['dicom_id']: r['ViewPosition'] for r in csv.DictReader(f)}
    verdicts = {'frontal': [], 'lateral': []}
    for path in images:
        view = 'lateral' if views[path.stem] == 'LATERAL' else 'frontal'
        verdicts[view].append(PIXELS_ONLY(load(path)))
    assert verdicts['frontal'] and verdicts['lateral']
    assert all(v is None for v in verdicts['frontal'])
    assert all('does not look like a frontal chest' in v
               for v in verdicts['lateral'])

    make_synthetic_iu_xray(str(tmp_path / 'iu'), num_studies=10, seed=3)
    for study in sorted((tmp_path / 'iu' / 'images').iterdir()):
        assert PIXELS_ONLY(load(study / '0.png')) is None
        assert PIXELS_ONLY(load(study / '1.png')) is not None


def test_measurements_and_reasons():
    check = FrontalChestLayoutCheck()
    flat = dict(img=np.full((64, 64, 3), 120, np.uint8), img_path=None)
    reason = check(flat)
    assert 'contrast 0.00 < 0.10' in reason and 'symmetry 0.00' in reason
    assert 'allow_non_chest' in reason
    # a bright central column between two dark fields, mirrored
    img = np.full((64, 64), 100, np.uint8)
    img[:, 12:25] = img[:, 40:53] = 30
    img[:, 29:35] = 220
    scores = check.scores(img)
    assert scores['contrast'] > 0.5 and scores['symmetry'] > 0.9
    assert check(dict(img=img, img_path=None)) is None
    # the same picture turned sideways has no central column
    assert check(dict(img=img.T.copy(), img_path=None)) is not None
    assert repr(check).startswith('FrontalChestLayoutCheck(')
    assert isinstance(DEFAULT_CHEST_CHECKS[-1], FrontalChestLayoutCheck)


def test_real_chest_passes_and_real_extremity_is_refused(tmp_path):
    """pydicom-data's RG1 (chest) passes on its pixels alone; RG3 (an
    extremity) is refused on its pixels alone, and also when its header is
    stripped of what it says (an anonymised file)."""
    rg1 = real_data_file_or_skip('RG1_UNCR')
    rg3 = real_data_file_or_skip('RG3_UNCR')
    assert header_says_frontal_chest(rg1)
    assert not header_says_frontal_chest(rg3)
    assert PIXELS_ONLY(load(rg1)) is None
    assert 'does not look like a frontal chest' in PIXELS_ONLY(load(rg3))
    ds = pydicom.dcmread(rg3)
    del ds.BodyPartExamined
    anonymised = tmp_path / 'anonymous.dcm'
    ds.save_as(anonymised)
    inferencer = ReportInferencer(str(write_config(tmp_path)))
    pred = inferencer(str(anonymised))['predictions'][0]
    assert pred['status'] == 'refused'
    assert 'does not look like a frontal chest' in pred['refusal']
    assert str(tmp_path) not in pred['refusal']
    # the explicit option analyses it
    allowed = ReportInferencer(str(write_config(tmp_path)),
                               allow_non_chest=True)
    assert allowed(str(anonymised))['predictions'][0]['status'] == 'ok'


def test_a_photograph_is_refused(tmp_path):
    import matplotlib
    import os.path as osp
    photo = osp.join(matplotlib.get_data_path(), 'sample_data',
                     'grace_hopper.jpg')
    if not osp.isfile(photo):
        pytest.skip('matplotlib ships no sample photograph here')
    inferencer = ReportInferencer(str(write_config(tmp_path)))
    pred = inferencer(photo)['predictions'][0]
    assert pred['status'] == 'refused' and pred['report'] == ''


def write_config(tmp_path):
    config = tmp_path / 'fake.py'
    config.write_text(CONFIG)
    return config
