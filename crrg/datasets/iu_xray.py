"""IU X-ray (Indiana University chest X-ray collection) for report generation.

The layout is the one report-generation papers ship (R2Gen)::

    data_root/
      annotation.json   # {"train": [...], "val": [...], "test": [...]}
      images/CXR1_1_IM-0001/0.png
      images/CXR1_1_IM-0001/1.png

Each annotation entry is ``{"id", "report", "image_path": [frontal, lateral],
"split"}`` with image paths relative to ``images/``.

The original Open-I release (``NLMCXR_reports.tgz``: ``ecgen-radiology/N.xml``)
is read by :func:`read_openi_reports`.
"""
import json
import logging
import os
import os.path as osp
import random
import re
import tarfile
import xml.etree.ElementTree as ET
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from crrg.registry import DATASETS
from crrg.structures import normalize_whitespace
from crrg.utils import DataFormatError
from .r2gen import R2GEN_SETTINGS, REFERENCE_STYLES, make_reference
from .base_dataset import XrayDatasetMixin

_REQUIRED_KEYS = ('id', 'report', 'image_path')
OPENI_SECTIONS = ('COMPARISON', 'INDICATION', 'FINDINGS', 'IMPRESSION')
# a few Open-I texts carry an escaped HTML line break, "previously<BR>described"
_LINE_BREAK = re.compile(r'<br\s*/?>', re.IGNORECASE)


def _openi_xml_files(path: str) -> Iterator[Tuple[str, bytes]]:
    """(name, bytes) of every ``*.xml`` in a ``.tgz`` or a folder tree."""
    if osp.isdir(path):
        for folder, _, files in sorted(os.walk(path)):
            for name in sorted(files):
                if name.endswith('.xml'):
                    with open(osp.join(folder, name), 'rb') as f:
                        yield osp.join(folder, name), f.read()
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: Open-I report archive not found')
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith('.xml'):
                    yield (f'{path}:{member.name}',
                           archive.extractfile(member).read())
    except tarfile.TarError as e:
        raise DataFormatError(f'{path}: not a readable tar archive ({e})') from e


def read_openi_reports(path: str, skip_invalid: bool = False) -> List[dict]:
    """Read the original IU X-ray (Open-I) report XMLs.

    Each file is decoded in the encoding its XML declaration states (UTF-8
    in the release).

    Args:
        path (str): ``NLMCXR_reports.tgz`` or a folder holding the extracted
            ``ecgen-radiology/N.xml`` files.
        skip_invalid (bool): Skip the files that cannot be parsed (bad XML,
            bytes not in the stated encoding, no ``uId``), log how many and
            which, instead of raising. Defaults to False.

    Returns:
        list[dict]: One dict per report, sorted by the ``N`` of ``CXRN``:
        ``uid`` (``'CXR1'``), ``comparison``, ``indication``, ``findings``,
        ``impression`` (the ``AbstractText`` sections, ``<BR>`` line breaks
        and white space normalised to single spaces, '' when absent or
        empty), ``mesh_major`` (the
        human-assigned MeSH terms, e.g. ``['Cardiomegaly/mild']``),
        ``mesh_automatic`` (the terms assigned automatically) and
        ``image_ids`` (``parentImage`` ids, e.g. ``'CXR1_1_IM-0001-3001'``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataFormatError: An XML file cannot be parsed or has no ``uId``; the
            message names the file.
    """
    reports, skipped = [], []
    for name, data in _openi_xml_files(path):
        try:
            try:
                root = ET.fromstring(data)
            except ET.ParseError as e:
                raise DataFormatError(
                    f'{name}: not valid XML or not in its stated encoding '
                    f'({e})') from e
            uid = root.find('uId')
            if uid is None or not uid.get('id'):
                raise DataFormatError(
                    f'{name}: no <uId id="CXR..."> element')
        except DataFormatError as e:
            if not skip_invalid:
                raise
            skipped.append(str(e))
            continue
        sections = {
            node.get('Label', '').upper(): normalize_whitespace(
                _LINE_BREAK.sub(' ', ''.join(node.itertext())))
            for node in root.iter('AbstractText')
        }
        mesh = root.find('MeSH')
        reports.append(
            dict(
                uid=uid.get('id'),
                **{s.lower(): sections.get(s, '')
                   for s in OPENI_SECTIONS},
                mesh_major=[] if mesh is None else
                [normalize_whitespace(m.text or '') for m in mesh.iter('major')],
                mesh_automatic=[] if mesh is None else [
                    normalize_whitespace(m.text or '')
                    for m in mesh.iter('automatic')
                ],
                image_ids=[im.get('id') for im in root.iter('parentImage')]))
    reports.sort(key=lambda r: int(r['uid'][3:]) if r['uid'][3:].isdigit()
                 else float('inf'))
    if skipped:
        print_log(
            f'read_openi_reports: skipped {len(skipped)} of '
            f'{len(skipped) + len(reports)} report files of {path}:\n  ' +
            '\n  '.join(skipped[:5]), 'current', logging.WARNING)
    return reports


def openi_to_annotation_entries(reports: Sequence[dict]
                                ) -> Tuple[List[dict], Dict[str, int]]:
    """Open-I reports (:func:`read_openi_reports`) as R2Gen-layout entries.

    A report becomes ``{"id", "report", "image_path", "mesh_major"}`` when it
    has a FINDINGS text and at least two images: ``id`` is its first image id
    without the trailing ``-NNNN`` image number (``'CXR1_1_IM-0001'``, R2Gen's
    folder name), ``report`` the FINDINGS text and ``image_path``
    ``[id/0.png, id/1.png]`` (R2Gen's numbering of a study's two views).
    Then :func:`make_iu_xray_splits` splits them. (R2Gen's own file keeps
    2,955 studies: 2,069 / 296 / 590.)

    Returns:
        tuple[list[dict], dict]: The entries and counts ``reports``,
        ``no_findings``, ``fewer_than_two_images``, ``kept``.
    """
    entries = []
    counts = dict(reports=len(reports), no_findings=0,
                  fewer_than_two_images=0)
    for report in reports:
        if not report['findings']:
            counts['no_findings'] += 1
            continue
        if len(report['image_ids']) < 2:
            counts['fewer_than_two_images'] += 1
            continue
        study = report['image_ids'][0].rsplit('-', 1)[0]
        entries.append(
            dict(
                id=study,
                report=report['findings'],
                image_path=[f'{study}/0.png', f'{study}/1.png'],
                mesh_major=report['mesh_major']))
    counts['kept'] = len(entries)
    return entries, counts


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
class IUXrayDataset(XrayDatasetMixin, BaseDataset):
    """IU X-ray studies (two views + report) in R2Gen's layout.

    Each data info holds ``img_paths`` (the two views' absolute paths, frontal
    first), ``img_id`` (the entry ``id``), ``gt_report`` (the report after
    R2Gen's IU cleaning by default; see ``reference``) and ``raw_report``.

    Args:
        data_root (str): Dataset root holding ``ann_file`` and ``img_dir``.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to 'train'.
        ann_file (str): Annotation file, relative to ``data_root``.
            Defaults to 'annotation.json'.
        img_dir (str): Image folder, relative to ``data_root``.
            Defaults to 'images'.
        pipeline (list): Transforms applied to each data info.
        reference (str): ``'clean'``: R2Gen's IU cleaning
            (:func:`crrg.structures.clean_report`); ``'r2gen'``: R2Gen's
            scored reference (cleaned, ``<unk>`` for tokens seen fewer than
            ``threshold`` times in the train split, cut to
            ``max_seq_length - 1`` tokens; :mod:`crrg.datasets.r2gen`);
            ``'raw'``: white space normalised. Defaults to 'clean'.
        threshold (int): Vocabulary threshold for ``'r2gen'``. Defaults to 3
            (R2Gen's IU X-ray setting).
        max_seq_length (int): For ``'r2gen'``. Defaults to 60 (R2Gen).
        skip_invalid (bool): Skip (count and log) malformed entries, and in
            training images that cannot be decoded, instead of raising.
            Defaults to False.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    RECORD_NAMES = ('study', 'studies')
    METAINFO = dict(dataset_name='iu_xray')
    PUBLISHED_SIZES = dict(train=2_069, val=296, test=590)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'annotation.json',
                 img_dir: str = 'images',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 reference: str = 'clean',
                 threshold: int = R2GEN_SETTINGS['iu_xray'][0],
                 max_seq_length: int = R2GEN_SETTINGS['iu_xray'][1],
                 skip_invalid: bool = False,
                 **kwargs) -> None:
        self.select_split(split, skip_invalid)
        self.img_dir = img_dir
        if reference not in REFERENCE_STYLES:
            raise ValueError(f'IUXrayDataset: reference must be one of '
                             f'{REFERENCE_STYLES}, got {reference!r}')
        self.reference = reference
        self.threshold = threshold
        self.max_seq_length = max_seq_length
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
        try:
            with open(self.ann_file, encoding='utf-8') as f:
                annotation = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataFormatError(
                f'{self.ann_file}: not UTF-8 JSON ({e})') from e
        if not isinstance(annotation, dict) or self.split not in annotation:
            raise DataFormatError(
                f'{self.ann_file}: expected a JSON object with a '
                f'{self.split!r} list; for a flat list of entries use '
                'crrg.datasets.iu_xray.make_iu_xray_splits to make the '
                '7:1:2 split first.')
        entries = annotation[self.split]
        data_list = self.parse_or_skip(
            list(enumerate(entries)), lambda item: self._parse_entry(*item))
        train = [
            e['report'] for e in annotation.get('train', [])
            if isinstance(e, dict) and isinstance(e.get('report'), str)
        ]
        references = make_reference([d['raw_report'] for d in data_list],
                                    train, self.reference, 'iu_xray',
                                    self.threshold, self.max_seq_length)
        for info, reference in zip(data_list, references):
            info['gt_report'] = reference
        self.log_counts(
            dict(listed=len(entries), skipped=self.num_skipped,
                 kept=len(data_list)),
            note=f'reference {self.reference!r}',
            empty_hint=f'check {self.ann_file}')
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
        if not normalize_whitespace(raw_report).strip(' .'):
            raise DataFormatError(
                f'{where}: field "report" has no words ({raw_report!r}).')
        return dict(
            img_paths=img_paths,
            img_id=str(entry['id']),
            raw_report=raw_report)

