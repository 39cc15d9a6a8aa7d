"""crrg's RSNA loader on the real ``stage_2_train_labels.csv`` (30,227 rows)
that torchxrayvision 1.5.7's wheel carries zipped."""
import csv
import io
import zipfile
from collections import defaultdict

import pytest

from crrg.datasets import RSNAPneumoniaDataset
from crrg.datasets.rsna import split_patients, stratified_fraction
from crrg.testing.real_data import real_data_file_or_skip


@pytest.fixture(scope='module')
def labels_zip():
    return real_data_file_or_skip('rsna_labels')


@pytest.fixture(scope='module')
def rows(labels_zip):
    with zipfile.ZipFile(labels_zip) as archive:
        name = archive.namelist()[0]
        text = archive.read(name).decode('utf-8')
    return list(csv.DictReader(io.StringIO(text)))


def test_one_label_per_patient(labels_zip, rows, tmp_path):
    assert len(rows) == 30227
    truth = defaultdict(int)
    for row in rows:
        truth[row['patientId']] = max(truth[row['patientId']],
                                      int(row['Target']))
    dataset = RSNAPneumoniaDataset(data_root=str(tmp_path),
                                   ann_file=labels_zip, lazy_init=True)
    labels = dataset.load_labels()
    assert labels == dict(truth)
    assert len(labels) == 26684
    positive = sum(labels.values())
    # the challenge's published class balance: 6,012 patients with pneumonia
    assert positive == 6012
    assert abs(positive / len(labels) - 0.2253) < 1e-3


def test_split_and_one_percent_subset(labels_zip, tmp_path):
    dataset = RSNAPneumoniaDataset(data_root=str(tmp_path),
                                   ann_file=labels_zip, lazy_init=True)
    labels = dataset.load_labels()
    split = split_patients(list(labels), seed=0)
    sizes = {k: len(v) for k, v in split.items()}
    assert sizes == dict(train=round(0.7 * 26684), val=round(0.15 * 26684),
                         test=26684 - round(0.7 * 26684) -
                         round(0.15 * 26684))
    assert not set(split['train']) & set(split['val'])
    assert not set(split['train']) & set(split['test'])
    assert split == split_patients(list(labels), seed=0)
    assert split != split_patients(list(labels), seed=1)
    subset = stratified_fraction({p: labels[p] for p in split['train']},
                                 0.01, seed=0)
    positives = sum(labels[p] for p in subset)
    train_pos = sum(labels[p] for p in split['train'])
    assert positives == round(0.01 * train_pos)
    assert len(subset) - positives == round(0.01 * (len(split['train']) -
                                                    train_pos))
    # the dataset builds that subset (only its images need to exist)
    image_dir = tmp_path / 'stage_2_train_images'
    image_dir.mkdir()
    for patient in subset:
        (image_dir / f'{patient}.dcm').touch()
    built = RSNAPneumoniaDataset(data_root=str(tmp_path), ann_file=labels_zip,
                                 split='train', train_fraction=0.01)
    assert sorted(built.get_data_info(i)['patient_id']
                  for i in range(len(built))) == subset
    assert sum(built.get_data_info(i)['gt_label']
               for i in range(len(built))) == positives
