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
import os.path as osp
from collections import OrderedDict
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

from mmengine.dataset import BaseDataset

from crrg.registry import DATASETS
from crrg.structures import split_sections
from crrg.utils import DataFormatError
from .base_dataset import XrayDatasetMixin
from .mimic_cxr import (FRONTAL_VIEWS, SPLIT_NAMES, image_path,
                        load_image_records, read_text, report_path)

IMAGE_VIEW_MODES = ('study', 'augment')


def _json_lines(path: str, what: str,
                written_by: str) -> Iterator[Tuple[int, dict]]:
    """``(line number, record)`` of each non-empty line of a UTF-8 JSONL file.

    Args:
        path (str): The file.
        what (str): What it is, for messages.
        written_by (str): The command that writes it, for a missing file.

    Raises:
        FileNotFoundError: The file is missing; says what writes it.
        DataFormatError: The file is not UTF-8, or a line is not a JSON
            object; the message names the file and the line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: {what} not found; write it with {written_by}')
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
    reports = {}
    for number, record in _json_lines(path, 'generated-report file',
                                      'tools/generate_reports.py'):
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
    translations = {}
    for number, record in _json_lines(path, 'back-translation file',
                                      'tools/back_translate.py --image-text'):
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
class MimicCxrImageTextDataset(XrayDatasetMixin, BaseDataset):
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
    ``text_sections`` are dropped; both drops are counted in
    ``split_counts`` and logged.

    Args:
        data_root (str): Root that the paths below are relative to.
        image_dir (str): MIMIC-CXR-JPG root (holds ``files/``).
        split_file (str): ``mimic-cxr-2.0.0-split.csv[.gz]``.
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``.
        report_dir (str): MIMIC-CXR report root (holds ``files/``).
        split (str): ``'train'``, ``'validate'`` (or ``'valid'``) or
            ``'test'``.
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
        skip_invalid (bool): Skip (count in ``num_skipped`` and log)
            studies whose report is missing or not UTF-8 text or missing
            from ``report_file``, and in training studies whose image cannot
            be decoded, instead of raising. Defaults to False.
        pipeline (list): Transforms.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    RECORD_NAMES = ('study', 'studies')
    METAINFO = dict(dataset_name='mimic_cxr')
    SPLITS = SPLIT_NAMES
    SPLIT_ALIASES = dict(valid='validate')

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
        self.select_split(split, skip_invalid)
        self.text_sections = tuple(text_sections)
        self.image_views = image_views
        super().__init__(data_root=data_root, pipeline=list(pipeline),
                         **kwargs)

    def _texts(self, study: dict, generated: Optional[Dict[int, str]]
               ) -> List[str]:
        """The study's available text sections (0, 1 or 2).

        Raises:
            FileNotFoundError: The report file is missing.
            DataFormatError: The report is not UTF-8, or the study is not
                in ``report_file``.
        """
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
        sections = split_sections(read_text(path, 'report file'))
        texts = [sections.get(name) for name in self.text_sections]
        return [t for t in texts if t]

    def _study(self, frontal: dict, second: dict,
               generated: Optional[Dict[int, str]]) -> dict:
        """The data info of one study from its two image records."""
        return dict(
            img_paths=[
                osp.join(self.image_dir,
                         image_path(r['subject_id'], r['study_id'],
                                    r['dicom_id'])) for r in (frontal, second)
            ],
            texts=self._texts(frontal, generated),
            study_id=frontal['study_id'],
            subject_id=frontal['subject_id'])

    def load_data_list(self) -> List[dict]:
        """The split's studies with a frontal image and a text, counts logged."""
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
        pairs = []
        for images in studies.values():
            frontal = [r for r in images if r['view_position'] in FRONTAL_VIEWS]
            if not frontal:
                continue
            others = [r for r in images if r is not frontal[0]]
            second = others[0] if others and self.image_views == 'study' \
                else frontal[0]
            pairs.append((frontal[0], second))
        infos = self.parse_or_skip(
            pairs, lambda pair: self._study(*pair, generated))
        data_list = [info for info in infos if info['texts']]
        if back_translations is not None:
            for info in data_list:
                translated = back_translations.get(info['study_id'], {})
                info['texts_augmented'] = [
                    translated.get(t) for t in info['texts']
                ]
        self.log_counts(
            {
                'listed': len(studies),
                'no frontal image': len(studies) - len(pairs),
                'skipped': self.num_skipped,
                f'none of {self.text_sections}': len(infos) - len(data_list),
                'kept': len(data_list)
            },
            empty_hint='check data_root, the split and report paths')
        return data_list
