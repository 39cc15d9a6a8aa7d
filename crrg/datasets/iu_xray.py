"""IU X-ray (Indiana University chest X-ray collection) for report generation.

The layout is the one report-generation papers ship (R2Gen)::

    data_root/
      annotation.json   # {"train": [...], "val": [...], "test": [...]}
      images/CXR1_1_IM-0001/0.png
      images/CXR1_1_IM-0001/1.png

Each annotation entry is ``{"id", "report", "image_path": [frontal, lateral],
"split"}`` with image paths relative to ``images/``.
"""
import json
import logging
import os.path as osp
import random
from typing import Callable, Dict, List, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from crrg.registry import DATASETS
from .mimic_cxr import DataFormatError
from .report_text import clean_report, normalize_whitespace

IU_XRAY_SPLITS = ('train', 'val', 'test')
_REQUIRED_KEYS = ('id', 'report', 'image_path')


def make_iu_xray_splits(entries: Sequence[dict],
                        ratios: Sequence[float] = (0.7, 0.1, 0.2),
                        seed: int = 0) -> Dict[str, List[dict]]:
    """Split a flat list of IU X-ray entries 7:1:2 into train/val/test.

    For annotation files without splits. The order is shuffled with ``seed``
    (so the split is reproducible); every entry gets its ``split`` field set.

    Args:
        entries (Sequence[dict]): Annotation entries (``id``, ``report``,
            ``image_path``).
        ratios (Sequence[float]): train/val/test fractions, summing to 1.
            Defaults to (0.7, 0.1, 0.2) as R2Gen.
        seed (int): Shuffling seed. Defaults to 0.

    Returns:
        dict[str, list[dict]]: ``{'train': [...], 'val': [...], 'test': [...]}``,
        ready to be dumped as ``annotation.json``. Sizes are
        ``round(n * ratios[0])``, ``round(n * ratios[1])`` and the rest.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError('make_iu_xray_splits: ratios must be three fractions '
                         f'summing to 1 (train, val, test), got {ratios}')
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    num_train = round(len(entries) * ratios[0])
    num_val = round(len(entries) * ratios[1])
    bounds = {
        'train': order[:num_train],
        'val': order[num_train:num_train + num_val],
        'test': order[num_train + num_val:],
    }
    return {
        split: [dict(entries[i], split=split) for i in indices]
        for split, indices in bounds.items()
    }


@DATASETS.register_module()
class IUXrayDataset(BaseDataset):
    """IU X-ray studies (two views + report) in R2Gen's layout.

    Each data info holds ``img_paths`` (the two views' absolute paths, frontal
    first), ``img_id`` (the entry ``id``), ``gt_report`` (the report after
    R2Gen's IU cleaning, or whitespace-normalised when ``clean_reports`` is
    False) and ``raw_report``.

    Args:
        data_root (str): Dataset root holding ``ann_file`` and ``img_dir``.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to 'train'.
        ann_file (str): Annotation file, relative to ``data_root``.
            Defaults to 'annotation.json'.
        img_dir (str): Image folder, relative to ``data_root``.
            Defaults to 'images'.
        pipeline (list): Transforms applied to each data info.
        clean_reports (bool): Apply
            :func:`crrg.datasets.report_text.clean_report` (``'iu_xray'``).
            Defaults to True.
        skip_invalid (bool): Skip (count and log) malformed entries instead of
            raising. Defaults to False.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset_name='iu_xray')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'annotation.json',
                 img_dir: str = 'images',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 clean_reports: bool = True,
                 skip_invalid: bool = False,
                 **kwargs) -> None:
        if split not in IU_XRAY_SPLITS:
            raise ValueError(f'IUXrayDataset: split must be one of '
                             f'{IU_XRAY_SPLITS}, got {split!r}')
        self.split = split
        self.img_dir = img_dir
        self.clean_reports = clean_reports
        self.skip_invalid = skip_invalid
        self.num_skipped = 0
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read ``ann_file`` and check every entry of ``split``."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'IUXrayDataset: annotation file {self.ann_file} not found; '
                'place R2Gen\'s annotation.json under data_root or set '
                'ann_file.')
        with open(self.ann_file, encoding='utf-8') as f:
            annotation = json.load(f)
        if not isinstance(annotation, dict) or self.split not in annotation:
            raise DataFormatError(
                f'{self.ann_file}: expected a JSON object with a '
                f'{self.split!r} list; for a flat list of entries use '
                'crrg.datasets.iu_xray.make_iu_xray_splits to make the '
                '7:1:2 split first.')
        data_list = []
        self.num_skipped = 0
        for index, entry in enumerate(annotation[self.split]):
            try:
                data_list.append(self._parse_entry(index, entry))
            except DataFormatError as error:
                if not self.skip_invalid:
                    raise
                self.num_skipped += 1
                print_log(f'IUXrayDataset: skipping {error}', 'current',
                          logging.WARNING)
        if self.num_skipped:
            print_log(
                f'IUXrayDataset: skipped {self.num_skipped} invalid entries '
                f'of split {self.split!r} in {self.ann_file}; kept '
                f'{len(data_list)}.', 'current', logging.WARNING)
        return data_list

    def _parse_entry(self, index: int, entry: dict) -> dict:
        """One data info from annotation entry ``index`` of ``split``."""
        where = f'{self.ann_file}: {self.split}[{index}]'
        if not isinstance(entry, dict):
            raise DataFormatError(f'{where}: entry is not a JSON object.')
        where += f' (id={entry.get("id")!r})'
        for key in _REQUIRED_KEYS:
            if key not in entry:
                raise DataFormatError(
                    f'{where}: missing field {key!r}; each entry needs '
                    f'{list(_REQUIRED_KEYS)}.')
        paths = entry['image_path']
        if (not isinstance(paths, list) or not paths
                or not all(isinstance(p, str) for p in paths)):
            raise DataFormatError(
                f'{where}: field "image_path" must be a non-empty list of '
                f'paths relative to {self.img_dir}/, got {paths!r}.')
        img_paths = [osp.join(self.data_root, self.img_dir, p) for p in paths]
        for path in img_paths:
            if not osp.isfile(path):
                raise DataFormatError(
                    f'{where}: field "image_path": image file {path} not '
                    'found; check img_dir or remove the entry.')
        raw_report = entry['report']
        if not isinstance(raw_report, str) or not raw_report.strip():
            raise DataFormatError(
                f'{where}: field "report" is empty; drop the entry or use '
                'skip_invalid=True.')
        gt_report = (
            clean_report(raw_report, 'iu_xray')
            if self.clean_reports else normalize_whitespace(raw_report))
        if not gt_report:
            raise DataFormatError(
                f'{where}: field "report" is empty after cleaning '
                f'({raw_report!r}).')
        return dict(
            img_paths=img_paths,
            img_id=str(entry['id']),
            gt_report=gt_report,
            raw_report=raw_report)

