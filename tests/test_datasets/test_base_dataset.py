"""The behaviour every crrg dataset shares through ``XrayDatasetMixin``: the
split and its error, bad input skipped and counted, one line of counts and
an empty split named."""
import json
import os
import os.path as osp

import pytest

from crrg.datasets import (ChestImaGenomeDataset, IUXrayDataset,
                           MimicCxrImageTextDataset, R2GenMimicCxrDataset,
                           RSNAPneumoniaDataset)
from crrg.datasets.synthetic import make_synthetic_iu_xray, make_synthetic_rsna
from crrg.utils import DataFormatError


@pytest.mark.parametrize('cls, allowed', [
    (ChestImaGenomeDataset, "('train', 'valid', 'test')"),
    (IUXrayDataset, "('train', 'val', 'test')"),
    (MimicCxrImageTextDataset, "('train', 'validate', 'test')"),
    (R2GenMimicCxrDataset, "('train', 'val', 'test')"),
    (RSNAPneumoniaDataset, "('train', 'val', 'test')"),
])
def test_unknown_split_names_the_dataset_and_the_choices(
        cls, allowed, tmp_path):
    with pytest.raises(ValueError) as err:
        cls(data_root=str(tmp_path), split='dev')
    message = str(err.value)
    assert message.startswith(f'{cls.__name__}: split must be one of')
    assert allowed in message and "'dev'" in message


def test_split_aliases(synthetic_twin):
    root, _ = synthetic_twin
    image_text = MimicCxrImageTextDataset(data_root=str(root), split='valid')
    assert image_text.split == 'validate' and len(image_text) > 0
    regions = ChestImaGenomeDataset(data_root=str(root), split='validate',
                                    test_mode=True, pipeline=[])
    assert regions.split == 'valid' and len(regions) > 0


def _logged(monkeypatch):
    lines = []
    monkeypatch.setattr('crrg.datasets.base_dataset.print_log',
                        lambda msg, *args, **kwargs: lines.append(msg))
    return lines


def test_counts_line_with_published_size(tmp_path, monkeypatch):
    root = str(tmp_path)
    counts = make_synthetic_iu_xray(root, num_studies=10, seed=0,
                                    image_size=32)
    lines = _logged(monkeypatch)
    dataset = IUXrayDataset(root, split='test')
    assert dataset.split_counts == dict(
        listed=counts['test'], skipped=0, kept=counts['test'])
    assert lines == [
        f'IUXrayDataset (test): listed {counts["test"]}, skipped 0, kept '
        f'{counts["test"]} (published: test 590); reference \'clean\''
    ]


def test_every_entry_bad_is_a_named_empty_split(tmp_path, monkeypatch):
    root = str(tmp_path)
    make_synthetic_iu_xray(root, num_studies=10, seed=0, image_size=32)
    path = osp.join(root, 'annotation.json')
    with open(path) as f:
        annotation = json.load(f)
    for entry in annotation['val']:
        entry['report'] = ''
    with open(path, 'w') as f:
        json.dump(annotation, f)
    lines = _logged(monkeypatch)
    with pytest.raises(DataFormatError) as err:
        IUXrayDataset(root, split='val', skip_invalid=True)
    message = str(err.value)
    assert "IUXrayDataset (val): no usable study in split 'val'" in message
    assert f'skipped {len(annotation["val"])}, kept 0' in message
    assert 'first problem' in message and 'val[0]' in message
    # the skipped entries were logged together, before the error
    assert lines[0].startswith(
        f'IUXrayDataset (val): skipped {len(annotation["val"])} of '
        f'{len(annotation["val"])} studies as bad input:')


def test_missing_image_is_skipped_under_skip_invalid(tmp_path):
    root = str(tmp_path)
    make_synthetic_rsna(root, num_patients=30, seed=0, image_size=32)
    full = RSNAPneumoniaDataset(data_root=root, split='val')
    os.remove(full.get_data_info(0)['img_path'])
    with pytest.raises(FileNotFoundError, match='patientId'):
        RSNAPneumoniaDataset(data_root=root, split='val')
    lenient = RSNAPneumoniaDataset(data_root=root, split='val',
                                   skip_invalid=True)
    assert lenient.num_skipped == 1 and len(lenient) == len(full) - 1
    assert 'patientId' in lenient.skip_reasons[0]
