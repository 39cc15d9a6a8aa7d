"""Damaged images in training: skipped and counted, or a named error.

Every dataset family reads its images through ``LoadXrayImageFromFile``
(the shipped configs' pipelines); each test damages copies of the twins'
images inside the test: one zero-byte file and one truncated file.
"""
import os.path as osp
import shutil

import pytest
from mmengine.config import Config

from crrg.registry import DATASETS
from crrg.datasets.synthetic import make_synthetic_iu_xray, make_synthetic_rsna
from crrg.utils import ImageDecodeError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(ROOT, 'configs', '_base_', 'datasets')


def _damage(paths):
    """Empty the first file and cut the second in half; return both."""
    empty, truncated = paths[0], paths[1]
    open(empty, 'wb').close()
    with open(truncated, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    return [empty, truncated]


def _paths(info):
    return info['img_paths'] if 'img_paths' in info else [info['img_path']]


def _train_dataset(config, root, skip_invalid, **overrides):
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, config))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=str(root), skip_invalid=skip_invalid,
                       **overrides)
    return DATASETS.build(dataset_cfg)


def _mimic_root(synthetic_twin, tmp_path):
    root, _ = synthetic_twin
    copy = tmp_path / 'mimic'
    shutil.copytree(root, copy)
    return copy


def _iu_root(_, tmp_path):
    root = tmp_path / 'iu'
    make_synthetic_iu_xray(str(root), num_studies=10, seed=0, image_size=64)
    return root


def _rsna_root(_, tmp_path):
    root = tmp_path / 'rsna'
    make_synthetic_rsna(str(root), num_patients=30, seed=0, image_size=64)
    return root


FAMILIES = {
    'chest_imagenome': ('chest_imagenome_detection_tiny.py', _mimic_root, {}),
    'mimic_image_text': ('mimic_cxr_image_text.py', _mimic_root, {}),
    'mimic_r2gen': ('mimic_cxr_r2gen_report.py', _mimic_root, {}),
    'iu_xray': ('iu_xray_report_tiny.py', _iu_root, {}),
    'rsna': ('rsna_pneumonia.py', _rsna_root, dict(train_fraction=1.0)),
}


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_damaged_images_are_skipped_counted_and_logged(
        family, synthetic_twin, tmp_path, monkeypatch):
    config, make_root, overrides = FAMILIES[family]
    root = make_root(synthetic_twin, tmp_path)
    dataset = _train_dataset(config, root, True, **overrides)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    bad = _damage([_paths(infos[0])[0], _paths(infos[1])[0]])
    logged = []
    monkeypatch.setattr('crrg.datasets.base_dataset.print_log',
                        lambda msg, *args, **kwargs: logged.append(msg))
    # a damaged sample itself: skipped (None), counted, logged with the file
    for expected, (index, path) in enumerate(zip((0, 1), bad), 1):
        assert dataset.prepare_data(index) is None
        assert dataset.num_skipped_images == expected
        assert path in logged[-1]
    assert 'empty (0 bytes)' in logged[0]
    assert 'cannot decode' in logged[1] or 'DICOM' in logged[1]
    # a training epoch: every item is a decoded sample of another image;
    # both damaged images are met (and skipped) at least once more
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample is not None and 'inputs' in sample
    assert dataset.num_skipped_images >= 4
    assert len(logged) == dataset.num_skipped_images


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_damaged_image_without_skip_invalid_names_the_file(
        family, synthetic_twin, tmp_path):
    config, make_root, overrides = FAMILIES[family]
    root = make_root(synthetic_twin, tmp_path)
    dataset = _train_dataset(config, root, False, **overrides)
    bad = _damage([_paths(dataset.get_data_info(i))[0] for i in (0, 1)])
    for index, path in enumerate(bad):
        with pytest.raises(ImageDecodeError) as info:
            dataset[index]
        assert path in str(info.value)
        assert 'skip_invalid=True' in str(info.value)


def test_test_mode_never_skips(synthetic_twin, tmp_path):
    root = _mimic_root(synthetic_twin, tmp_path)
    cfg = Config.fromfile(
        osp.join(DATASET_CONFIGS, 'chest_imagenome_detection_tiny.py'))
    dataset_cfg = cfg.val_dataloader.dataset
    dataset_cfg.update(data_root=str(root), skip_invalid=True)
    dataset = DATASETS.build(dataset_cfg)
    assert dataset.test_mode
    path = _damage([dataset.get_data_info(i)['img_path'] for i in (0, 1)])[0]
    with pytest.raises(ImageDecodeError, match='test mode never skips') as e:
        dataset[0]
    assert path in str(e.value)
