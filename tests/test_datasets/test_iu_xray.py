import json
import os.path as osp
from collections import Counter

import pytest

from crrg.datasets import IUXrayDataset, make_iu_xray_splits
from crrg.structures import clean_report
from crrg.utils import DataFormatError
from crrg.datasets.synthetic import make_synthetic_iu_xray
from crrg.registry import DATASETS


@pytest.fixture(scope='module')
def twin(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('iu'))
    counts = make_synthetic_iu_xray(root, num_studies=30, seed=1,
                                    image_size=64)
    return root, counts


def _write(root, annotation):
    with open(osp.join(root, 'annotation.json'), 'w') as f:
        json.dump(annotation, f)


def test_twin_layout_and_split_sizes(twin):
    root, counts = twin
    assert (counts['train'], counts['val'], counts['test']) == (21, 3, 6)
    assert 0 < counts['abnormal'] < 30
    with open(osp.join(root, 'annotation.json')) as f:
        annotation = json.load(f)
    ids = [e['id'] for split in ('train', 'val', 'test')
           for e in annotation[split]]
    assert len(set(ids)) == 30
    entry = annotation['test'][0]
    assert entry['split'] == 'test' and len(entry['image_path']) == 2


def test_loader_cleans_reports(twin):
    root, _ = twin
    dataset = DATASETS.build(
        dict(type='IUXrayDataset', data_root=root, split='train'))
    assert len(dataset) == 21
    info = dataset[0]
    assert len(info['img_paths']) == 2
    assert all(osp.isfile(p) for p in info['img_paths'])
    assert info['gt_report'] == info['gt_report'].lower()
    assert info['gt_report'].endswith(' .')
    assert ',' not in info['gt_report']
    assert info['raw_report'][0].isupper()
    raw = IUXrayDataset(root, split='train', reference='raw')
    assert raw[0]['gt_report'] == raw[0]['raw_report']


def test_r2gen_reference_protocol(twin):
    root, _ = twin
    with open(osp.join(root, 'annotation.json')) as f:
        annotation = json.load(f)
    counts = Counter(t for e in annotation['train']
                     for t in clean_report(e['report'], 'iu_xray').split())
    test = IUXrayDataset(root, split='test', reference='r2gen', threshold=3,
                         max_seq_length=8)
    for i, entry in enumerate(annotation['test']):
        tokens = clean_report(entry['report'], 'iu_xray').split()[:7]
        assert test[i]['gt_report'].split() == [
            t if counts[t] >= 3 else '<unk>' for t in tokens]
    with pytest.raises(ValueError, match='reference'):
        IUXrayDataset(root, split='test', reference='cleaned')


def test_make_splits_is_seeded():
    entries = [dict(id=str(i), report='x.', image_path=[]) for i in range(10)]
    a = make_iu_xray_splits(entries, seed=3)
    b = make_iu_xray_splits(entries, seed=3)
    assert [len(a[s]) for s in ('train', 'val', 'test')] == [7, 1, 2]
    assert a == b
    assert a != make_iu_xray_splits(entries, seed=4)
    with pytest.raises(ValueError, match='ratios'):
        make_iu_xray_splits(entries, ratios=(0.5, 0.5, 0.5))


@pytest.mark.parametrize('defect, field', [
    (lambda e: e.pop('report'), 'report'),
    (lambda e: e.update(report='  '), 'report'),
    (lambda e: e.update(image_path='CXR1/0.png'), 'image_path'),
    (lambda e: e.update(image_path=['missing/0.png']), 'image_path'),
])
def test_bad_entries_named_or_skipped(tmp_path, defect, field):
    root = str(tmp_path)
    make_synthetic_iu_xray(root, num_studies=10, seed=0, image_size=32)
    with open(osp.join(root, 'annotation.json')) as f:
        annotation = json.load(f)
    bad = annotation['train'][2]
    defect(bad)
    _write(root, annotation)
    with pytest.raises(DataFormatError) as error:
        IUXrayDataset(root, split='train')
    message = str(error.value)
    assert 'annotation.json' in message and 'train[2]' in message
    assert bad['id'] in message and field in message
    dataset = IUXrayDataset(root, split='train', skip_invalid=True)
    assert dataset.num_skipped == 1
    assert len(dataset) == len(annotation['train']) - 1


def test_missing_split_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='annotation.json'):
        IUXrayDataset(str(tmp_path), split='val')
    _write(str(tmp_path), [dict(id='a', report='x', image_path=[])])
    with pytest.raises(DataFormatError, match='make_iu_xray_splits'):
        IUXrayDataset(str(tmp_path), split='val')
    with pytest.raises(ValueError, match='split'):
        IUXrayDataset(str(tmp_path), split='validate')


def test_tool_writes_twin(tmp_path, monkeypatch):
    # the command line as documented, in this process (no second torch
    # import)
    import runpy
    import sys
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    tool = osp.join(repo, 'tools', 'make_synthetic_iu_xray.py')
    monkeypatch.setattr(sys, 'argv', [
        tool, str(tmp_path), '--num-studies', '10', '--image-size', '32'])
    runpy.run_path(tool, run_name='__main__')
    assert len(IUXrayDataset(str(tmp_path), split='test')) == 2


def test_twin_findings_visible_and_seeded(tmp_path, twin):
    root, _ = twin
    again = str(tmp_path / 'again')
    make_synthetic_iu_xray(again, num_studies=30, seed=1, image_size=64)
    with open(osp.join(root, 'annotation.json')) as f, \
            open(osp.join(again, 'annotation.json')) as g:
        assert json.load(f) == json.load(g)
    import cv2
    import numpy as np
    infos = list(IUXrayDataset(root, split='train'))
    bright = {}
    for info in infos:
        heart = 'cardiomegaly' in info['gt_report']
        frontal = cv2.imread(info['img_paths'][0], cv2.IMREAD_GRAYSCALE)
        assert frontal.shape == (64, 64)
        bright.setdefault(heart, []).append((frontal > 150).mean())
    # a bigger heart is more bright pixels in the frontal view
    assert np.mean(bright[True]) > np.mean(bright[False])
