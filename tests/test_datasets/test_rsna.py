import os.path as osp

import numpy as np
import pydicom
import pytest

from crrg.utils import DataFormatError
from crrg.datasets.synthetic import make_synthetic_rsna
from crrg.datasets.synthetic.rsna import write_dicom
from crrg.registry import DATASETS, TRANSFORMS

PIPELINE = [dict(type='LoadXrayImageFromFile'),
            dict(type='mmpretrain.PackInputs')]


@pytest.fixture(scope='module')
def twin(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('rsna'))
    counts = make_synthetic_rsna(root, num_patients=80, seed=3, image_size=64)
    return root, counts


def build(root, **kwargs):
    return DATASETS.build(
        dict(type='RSNAPneumoniaDataset', data_root=root, **kwargs))


def test_twin_layout_and_dicoms(twin):
    root, counts = twin
    with open(osp.join(root, 'stage_2_train_labels.csv')) as f:
        header, *rows = f.read().splitlines()
    assert header == 'patientId,x,y,width,height,Target'
    assert len(rows) == counts['label_rows'] > counts['patients'] == 80
    patient = rows[0].split(',')[0]
    ds = pydicom.dcmread(osp.join(root, 'stage_2_train_images',
                                  f'{patient}.dcm'))
    assert ds.PatientID == patient and ds.Modality == 'CR'
    assert ds.pixel_array.shape == (64, 64)
    img = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))(
        dict(img_path=ds.filename))['img']
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert img.max() == 255 and img.min() == 0


def test_monochrome1_is_inverted(tmp_path):
    pixels = np.tile(np.arange(0, 250, 50, dtype=np.uint8), (5, 1))
    path = str(tmp_path / 'm1.dcm')
    write_dicom(path, pixels, 'p1')
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = 'MONOCHROME1'
    ds.save_as(path, enforce_file_format=True)
    img = TRANSFORMS.build(dict(type='LoadXrayImageFromFile', min_size=1))(
        dict(img_path=path))['img'][..., 0]
    assert img[0, 0] == 255 and img[0, -1] == 0


def test_one_label_per_patient_and_seeded_split(twin):
    root, counts = twin
    splits = {s: build(root, split=s) for s in ('train', 'val', 'test')}
    assert [len(d) for d in splits.values()] == [56, 12, 12]
    ids = [set(d.get_data_info(i)['patient_id'] for i in range(len(d)))
           for d in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    labels = {d.get_data_info(i)['patient_id']: d.get_data_info(i)['gt_label']
              for d in splits.values() for i in range(len(d))}
    assert sum(labels.values()) == counts['positives']
    again = build(root, split='val')
    assert [again.get_data_info(i)['patient_id'] for i in range(12)] == \
        [splits['val'].get_data_info(i)['patient_id'] for i in range(12)]
    other = build(root, split='val', split_seed=1)
    assert {other.get_data_info(i)['patient_id'] for i in range(12)} != ids[1]


def test_train_fraction_is_stratified_and_seeded(twin):
    root, _ = twin
    small = build(root, train_fraction=0.1)
    labels = [small.get_data_info(i)['gt_label'] for i in range(len(small))]
    assert 4 <= len(small) <= 7 and set(labels) == {0, 1}
    full = {build(root).get_data_info(i)['patient_id'] for i in range(56)}
    assert {small.get_data_info(i)['patient_id']
            for i in range(len(small))} <= full
    other = build(root, train_fraction=0.1, fraction_seed=5)
    assert [other.get_data_info(i)['patient_id'] for i in range(len(other))] \
        != [small.get_data_info(i)['patient_id'] for i in range(len(small))]


def test_png_copies_and_pipeline(tmp_path):
    root = str(tmp_path)
    make_synthetic_rsna(root, num_patients=20, seed=0, image_size=32,
                        image_format='png')
    dataset = build(root, image_suffix='.png', split='test', pipeline=PIPELINE)
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 32, 32)
    assert int(sample['data_samples'].gt_label) == \
        dataset.get_data_info(0)['gt_label']


def _copy_with_csv(src_root, dst, text):
    import shutil
    shutil.copytree(osp.join(src_root, 'stage_2_train_images'),
                    osp.join(dst, 'stage_2_train_images'))
    with open(osp.join(dst, 'stage_2_train_labels.csv'), 'w') as f:
        f.write(text)
    return str(dst)


def test_bad_input_names_file_and_field(twin, tmp_path):
    root, _ = twin
    with open(osp.join(root, 'stage_2_train_labels.csv')) as f:
        lines = f.read().splitlines()
    patient = lines[1].split(',')[0]
    bad = _copy_with_csv(root, tmp_path / 'a', '\n'.join(
        [lines[0].replace('Target', 'Label')] + lines[1:]))
    with pytest.raises(DataFormatError, match=r'stage_2_train_labels\.csv.*'
                       r'Target'):
        build(bad)
    bad = _copy_with_csv(root, tmp_path / 'b', '\n'.join(
        lines[:1] + [f'{patient},,,,,2'] + lines[2:]))
    with pytest.raises(DataFormatError,
                       match=f'"Target" of patientId {patient}'):
        build(bad)
    bad = _copy_with_csv(root, tmp_path / 'c', '\n'.join(
        lines + ['ffffffff-0000-0000-0000-000000000000,,,,,0']))
    with pytest.raises(FileNotFoundError, match='patientId ffffffff'):
        for split in ('train', 'val', 'test'):
            build(bad, split=split)
