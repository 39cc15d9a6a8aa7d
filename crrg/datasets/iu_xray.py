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
import logging
import os
import os.path as osp
import random
import re
import tarfile
import xml.etree.ElementTree as ET
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Union

from mmengine.logging import print_log

from crrg.registry import DATASETS
from crrg.structures import normalize_whitespace
from crrg.utils import DataFormatError
from .r2gen import R2GEN_SETTINGS, R2GenAnnotationDataset

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
class IUXrayDataset(R2GenAnnotationDataset):
    """IU X-ray studies (two views + report) in R2Gen's layout.

    Each data info holds :class:`~crrg.datasets.r2gen.R2GenAnnotationDataset`'s
    fields: ``img_paths`` (the two views, frontal first), ``img_id``,
    ``raw_report`` and ``gt_report`` (R2Gen's IU cleaning by default).

    Args:
        data_root (str): Dataset root holding ``ann_file`` and ``img_dir``.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to 'train'.
        ann_file (str): Annotation file, relative to ``data_root``.
            Defaults to 'annotation.json'.
        img_dir (str): Image folder, relative to ``data_root``.
            Defaults to 'images'.
        pipeline (list): Transforms applied to each data info.
        reference (str): ``'clean'``, ``'r2gen'`` or ``'raw'`` (see the
            base). Defaults to 'clean'.
        threshold (int): Vocabulary threshold for ``'r2gen'``. Defaults to 3
            (R2Gen's IU X-ray setting).
        max_seq_length (int): For ``'r2gen'``. Defaults to 60 (R2Gen).
        **kwargs: The base's other arguments (``skip_invalid``, ...).
    """

    RECORD_NAMES = ('study', 'studies')
    METAINFO = dict(dataset_name='iu_xray')
    PUBLISHED_SIZES = dict(train=2_069, val=296, test=590)
    CLEANING = 'iu_xray'
    SPLIT_HINT = ('for a flat list of entries use crrg.datasets.iu_xray.'
                  'make_iu_xray_splits to make the 7:1:2 split first')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'annotation.json',
                 img_dir: str = 'images',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 reference: str = 'clean',
                 threshold: int = R2GEN_SETTINGS['iu_xray'][0],
                 max_seq_length: int = R2GEN_SETTINGS['iu_xray'][1],
                 **kwargs) -> None:
        super().__init__(data_root, split, ann_file, img_dir, reference,
                         threshold, max_seq_length, pipeline=pipeline,
                         **kwargs)
