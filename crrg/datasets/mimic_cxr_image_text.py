"""MIMIC-CXR image-text pairs for CLIP training (R-CLIP).

One sample per study: two image views and two text views. Images come from
MIMIC-CXR-JPG (split and metadata CSVs, see :mod:`crrg.datasets.mimic_cxr`);
texts are two sections of the study's report (FINDINGS and IMPRESSION by
default) or, for R-CLIP-opt, a generated report read from a JSON-lines file
with one ``{"study_id": int, "report": str}`` object per line (written by
``tools/generate_reports.py``). Back-translated texts (CXR-CLIP's text
augmentation) come from a JSON-lines file with one ``{"study_id": int,
"back_translations": {text: back-translated text}}`` object per line
(written by ``tools/back_translate.py --image-text``).
"""
import json
import logging
import os.path as osp
from collections import OrderedDict
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from crrg.registry import DATASETS
from crrg.structures import split_sections
from crrg.utils import DataFormatError
from .mimic_cxr import (FRONTAL_VIEWS, image_path, load_image_records,
                        read_text, report_path)
from .skip_invalid import SkipInvalidImagesMixin

IMAGE_VIEW_MODES = ('study', 'augment')


def _json_lines(path: str, what: str) -> Iterator[Tuple[int, dict]]:
    """``(line number, record)`` of each non-empty line of a UTF-8 JSONL file.

    Raises:
        DataFormatError: The file is not UTF-8, or a line is not a JSON
            object; the message names the file and the line.
    """
    for number, line in enumerate(read_text(path, what).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(
                f'{path}: line {number} is not JSON ({err})') from err
        if not isinstance(record, dict):
            raise DataFormatError(
                f'{path}: line {number} is not a JSON object')
        yield number, record


def read_generated_reports(path: str) -> Dict[int, str]:
    """``study_id -> report`` from a JSON-lines file of generated reports.

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: A line is not JSON or lacks ``study_id``/``report``;
            the message names the file, the line and the field.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: report file not found; write it with '
            'tools/generate_reports.py')
    reports = {}
    for number, record in _json_lines(path, 'generated-report file'):
        for field in ('study_id', 'report'):
            if field not in record:
                raise DataFormatError(
                    f'{path}: line {number} has no field {field!r}')
        reports[int(record['study_id'])] = str(record['report'])
    return reports


def read_back_translations(path: str) -> Dict[int, Dict[str, str]]:
    """``study_id -> {text: back-translation}`` from a JSON-lines file.

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: A line is not JSON or lacks ``study_id`` /
            ``back_translations`` (an object); names the file and the line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: back-translation file not found; write it with '
            'tools/back_translate.py --image-text')
    translations = {}
    for number, record in _json_lines(path, 'back-translation file'):
        if 'study_id' not in record or not isinstance(
                record.get('back_translations'), dict):
            raise DataFormatError(
                f'{path}: line {number} needs "study_id" and a '
                '"back_translations" object')
        translations[int(record['study_id'])] = {
            str(k): str(v)
            for k, v in record['back_translations'].items()
        }
    return translations


@DATASETS.register_module()
class MimicCxrImageTextDataset(SkipInvalidImagesMixin, BaseDataset):
    """MIMIC-CXR studies as (two image views, two text views) pairs.

    Each data info holds ``img_paths`` ([frontal image, second view]),
    ``texts`` (the report's available ``text_sections``, one or two
    strings; ``SampleTextViews`` in the pipeline draws T1 and T2 from them),
    ``study_id`` and ``subject_id``. The first image is
    the study's first frontal (PA/AP) image; studies without one are
    skipped. With ``image_views='study'`` the second image is another image
    of the study (e.g. the lateral) when there is one, else the frontal
    again (the pipeline then augments it differently); ``'augment'`` always
    repeats the frontal. Studies whose report has none of the
    ``text_sections`` are skipped, counted in ``num_skipped`` and logged.

    Args:
        data_root (str): Root that the paths below are relative to.
        image_dir (str): MIMIC-CXR-JPG root (holds ``files/``).
        split_file (str): ``mimic-cxr-2.0.0-split.csv[.gz]``.
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``.
        report_dir (str): MIMIC-CXR report root (holds ``files/``).
        split (str): ``'train'``, ``'validate'`` or ``'test'``.
        text_sections (Sequence[str]): The report sections T1 and T2 are
            drawn from. Defaults to ('findings', 'impression').
        report_file (str, optional): JSON-lines generated reports that
            replace the reference report (its one text); every kept study
            must be in it. A path of its own, not under ``data_root``.
        back_translation_file (str, optional): JSON-lines back-translations
            of the texts; each data info then has ``texts_augmented``
            (aligned with ``texts``, None where a text has none), which
            ``SampleTextViews`` draws from. A path of its own.
        image_views (str): ``'study'`` or ``'augment'``. Defaults to
            'study'.
        skip_invalid (bool): Skip (count and log) studies whose report is
            not UTF-8 text, and in training studies whose image cannot be
            decoded, instead of raising. Defaults to False.
        pipeline (list): Transforms.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset_name='mimic_cxr')

    def __init__(self,
                 data_root: str,
                 image_dir: str = 'mimic-cxr-jpg',
                 split_file: str = 'mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz',
                 metadata_file: str = (
                     'mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz'),
                 report_dir: str = 'mimic-cxr-reports',
                 split: str = 'train',
                 text_sections: Sequence[str] = ('findings', 'impression'),
                 report_file: Optional[str] = None,
                 back_translation_file: Optional[str] = None,
                 image_views: str = 'study',
                 skip_invalid: bool = False,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 **kwargs) -> None:
        if image_views not in IMAGE_VIEW_MODES:
            raise ValueError(f'MimicCxrImageTextDataset: image_views must be '
                             f'one of {IMAGE_VIEW_MODES}, got {image_views!r}')
        self.image_dir = osp.join(data_root, image_dir)
        self.split_file = osp.join(data_root, split_file)
        self.metadata_file = osp.join(data_root, metadata_file)
        self.report_dir = osp.join(data_root, report_dir)
        self.report_file = report_file
        self.back_translation_file = back_translation_file
        self.split = split
        self.text_sections = tuple(text_sections)
        self.image_views = image_views
        self.skip_invalid = skip_invalid
        self.num_skipped = 0
        super().__init__(data_root=data_root, pipeline=list(pipeline),
                         **kwargs)

    def _texts(self, study: dict, generated: Optional[Dict[int, str]]
               ) -> Optional[List[str]]:
        """The study's available text sections (1 or 2), None if neither."""
        if generated is not None:
            if study['study_id'] not in generated:
                raise DataFormatError(
                    f'{self.report_file}: no report for study_id '
                    f'{study["study_id"]} of split {self.split!r}')
            return [generated[study['study_id']]]
        path = osp.join(self.report_dir,
                        report_path(study['subject_id'], study['study_id']))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path}: report file of study {study["study_id"]} not found')
        try:
            sections = split_sections(read_text(path, 'report file'))
        except DataFormatError:
            if not self.skip_invalid:
                raise
            self.num_unreadable_reports += 1
            return None
        texts = [sections.get(name) for name in self.text_sections]
        return [t for t in texts if t] or None

    def load_data_list(self) -> List[dict]:
        records = load_image_records(self.split_file, self.metadata_file,
                                     self.split, view_positions=None)
        studies: Dict[int, List[dict]] = OrderedDict()
        for record in records:
            studies.setdefault(record['study_id'], []).append(record)
        generated = (read_generated_reports(self.report_file)
                     if self.report_file else None)
        back_translations = (read_back_translations(
            self.back_translation_file) if self.back_translation_file else
                             None)
        data_list, self.num_skipped = [], 0
        self.num_unreadable_reports = 0
        for study_id, images in studies.items():
            frontal = [r for r in images if r['view_position'] in FRONTAL_VIEWS]
            if not frontal:
                self.num_skipped += 1
                continue
            others = [r for r in images if r is not frontal[0]]
            second = others[0] if others and self.image_views == 'study' \
                else frontal[0]
            texts = self._texts(frontal[0], generated)
            if texts is None:
                self.num_skipped += 1
                continue
            data_list.append(
                dict(
                    img_paths=[
                        osp.join(self.image_dir,
                                 image_path(r['subject_id'], study_id,
                                            r['dicom_id']))
                        for r in (frontal[0], second)
                    ],
                    texts=texts,
                    study_id=study_id,
                    subject_id=frontal[0]['subject_id']))
            if back_translations is not None:
                translated = back_translations.get(study_id, {})
                data_list[-1]['texts_augmented'] = [
                    translated.get(t) for t in texts
                ]
        if self.num_unreadable_reports:
            print_log(
                f'MimicCxrImageTextDataset: {self.num_unreadable_reports} of '
                f'the skipped studies of split {self.split!r} have a report '
                'that is not UTF-8 text (skip_invalid=True).', 'current',
                logging.WARNING)
        if self.num_skipped:
            print_log(
                f'MimicCxrImageTextDataset: skipped {self.num_skipped} '
                f'studies of split {self.split!r} without a frontal image or '
                'without any of the sections '
                f'{self.text_sections}; kept {len(data_list)}.', 'current',
                logging.WARNING)
        return data_list
