"""RSNA Pneumonia Detection Challenge, for the linear-probe evaluation.

Layout (the Kaggle download)::

    data_root/
      stage_2_train_labels.csv      patientId,x,y,width,height,Target
      stage_2_train_images/<patientId>.dcm

``stage_2_train_labels.csv`` has one row per pneumonia box (Target 1) and one
row with empty box fields for a patient without pneumonia (Target 0); a
patient's label is the maximum of its rows' Target. PNG/JPEG copies of the
images are accepted (``image_dir``, ``image_suffix``).
"""
import os.path as osp
from typing import Callable, List, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from crrg.registry import DATASETS
from crrg.utils import DataFormatError
from .mimic_cxr import read_csv_fields
from .base_dataset import XrayDatasetMixin


def split_patients(patients: Sequence[str],
                   ratios: Sequence[float] = (0.7, 0.15, 0.15),
                   seed: int = 0) -> dict:
    """Seeded patient-level split: ``{'train': [...], 'val': [...], 'test'}``.

    The sorted patient ids are shuffled by ``numpy.random.default_rng(seed)``;
    the sizes are ``round(n * ratios[0])``, ``round(n * ratios[1])`` and the
    rest.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f'split ratios must be 3 fractions summing to 1, '
                         f'got {ratios}')
    order = sorted(patients)
    np.random.default_rng(seed).shuffle(order)
    n_train, n_val = round(len(order) * ratios[0]), round(len(order) *
                                                          ratios[1])
    return dict(train=order[:n_train], val=order[n_train:n_train + n_val],
                test=order[n_train + n_val:])


def stratified_fraction(labels: dict, fraction: float, seed: int = 0) -> list:
    """A seeded subset of ``fraction`` of the patients, class ratio kept.

    ``labels`` maps patient id -> 0/1. Each class contributes
    ``round(fraction * class size)`` patients, at least one when it has any,
    drawn with ``numpy.random.default_rng(seed)``. Returns sorted ids.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'train_fraction must be in (0, 1], got {fraction}')
    rng = np.random.default_rng(seed)
    chosen = []
    for label in (0, 1):
        group = sorted(p for p, y in labels.items() if y == label)
        if group:
            size = max(1, round(fraction * len(group)))
            chosen += list(rng.choice(group, size=size, replace=False))
    return sorted(chosen)


@DATASETS.register_module()
class RSNAPneumoniaDataset(XrayDatasetMixin, BaseDataset):
    """RSNA pneumonia labels, one per patient, on a seeded patient split.

    Each data info holds ``img_path``, ``gt_label`` (0/1) and ``patient_id``.

    Args:
        data_root (str): Dataset root.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): Defaults to 'stage_2_train_labels.csv'.
        image_dir (str): Defaults to 'stage_2_train_images'.
        image_suffix (str): '.dcm' (default), '.png' or '.jpg'.
        split_ratios (Sequence[float]): Defaults to (0.7, 0.15, 0.15).
        split_seed (int): Seed of the patient split. Defaults to 0.
        train_fraction (float): Fraction of the training split kept
            (stratified; e.g. 0.01, 0.1, 1.0). Ignored for val/test.
            Defaults to 1.0.
        fraction_seed (int): Seed of that subset. Defaults to 0.
        skip_invalid (bool): Skip (count and log) patients whose image file
            is missing, and in training images that cannot be decoded,
            instead of raising. Defaults to False.
        pipeline (list): Transforms, starting with
            ``LoadXrayImageFromFile`` (DICOM windowing, MONOCHROME1).
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    RECORD_NAMES = ('patient', 'patients')
    METAINFO = dict(classes=('no pneumonia', 'pneumonia'))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'stage_2_train_labels.csv',
                 image_dir: str = 'stage_2_train_images',
                 image_suffix: str = '.dcm',
                 split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
                 split_seed: int = 0,
                 train_fraction: float = 1.0,
                 fraction_seed: int = 0,
                 skip_invalid: bool = False,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 **kwargs) -> None:
        self.select_split(split, skip_invalid)
        self.image_dir = image_dir
        self.image_suffix = image_suffix
        self.split_ratios = tuple(split_ratios)
        self.split_seed = split_seed
        self.train_fraction = train_fraction
        self.fraction_seed = fraction_seed
        super().__init__(ann_file=ann_file, data_root=data_root,
                         pipeline=list(pipeline), **kwargs)

    def load_labels(self) -> dict:
        """patientId -> label (max Target over the patient's rows)."""
        table = read_csv_fields(self.ann_file, ('patientId', 'Target'))
        bad = table[~table['Target'].isin([0, 1])]
        if len(bad):
            row = bad.iloc[0]
            raise DataFormatError(
                f'{self.ann_file}: field "Target" of patientId '
                f'{row.patientId} is {row.Target!r}; expected 0 or 1 '
                f'({len(bad)} bad row(s))')
        return {str(k): int(v) for k, v in
                table.groupby('patientId')['Target'].max().items()}

    def load_data_list(self) -> List[dict]:
        """The patients of ``split`` (and ``train_fraction``), counts logged."""
        labels = self.load_labels()
        patients = split_patients(list(labels), self.split_ratios,
                                  self.split_seed)[self.split]
        if self.split == 'train' and self.train_fraction < 1:
            patients = stratified_fraction(
                {p: labels[p] for p in patients}, self.train_fraction,
                self.fraction_seed)
        data_list = self.parse_or_skip(patients, lambda patient: dict(
            img_path=self._image_path(patient), gt_label=labels[patient],
            patient_id=patient))
        self.log_counts(dict(listed=len(patients), skipped=self.num_skipped,
                             kept=len(data_list)))
        return data_list

    def _image_path(self, patient: str) -> str:
        """The image file of ``patient``; raises if it is missing."""
        path = osp.join(self.data_root, self.image_dir,
                        patient + self.image_suffix)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path}: image of patientId {patient} (listed in '
                f'{self.ann_file}) not found; check image_dir and '
                'image_suffix')
        return path
