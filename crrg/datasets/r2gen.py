"""R2Gen's MIMIC-CXR ``annotation.json`` and its test protocol.

R2Gen (Chen et al., 2020; cuhksz-nlp/R2Gen) ships MIMIC-CXR as one JSON file
that most report-generation papers since (R2GenCMN, R2GenGPT, PromptMRG, ...)
train and evaluate on::

    {"train": [...], "val": [...], "test": [...]}   # 270,790 / 2,130 / 3,858
    entry: {"id": dicom_id, "study_id": int, "subject_id": int,
            "report": FINDINGS text,
            "image_path": ["p10/p10000032/s5.../<dicom_id>.jpg"],
            "split": "train" | "val" | "test"}

``image_path`` is relative to MIMIC-CXR-JPG's ``files/`` folder (R2Gen's
``images/``). R2Gen scores generated reports against a reference that went
through its tokenizer: the report cleaned (:func:`crrg.structures.clean_report`),
every token not seen at least ``threshold`` times in the training reports
replaced by ``<unk>``, and cut to ``max_seq_length - 1`` tokens
(:func:`r2gen_reference`); ``reference='r2gen'`` reproduces that.
"""
import json
import os.path as osp
from collections import Counter
from typing import Callable, Iterable, List, Sequence, Set, Union

from mmengine.dataset import BaseDataset

from crrg.registry import DATASETS
from crrg.structures import clean_report, normalize_whitespace
from crrg.utils import DataFormatError, check_choice
from .base_dataset import XrayDatasetMixin

#: R2Gen's run scripts: (vocabulary threshold, max_seq_length) per dataset
R2GEN_SETTINGS = dict(mimic_cxr=(10, 100), iu_xray=(3, 60))
REFERENCE_STYLES = ('r2gen', 'clean', 'raw')
UNK = '<unk>'


def r2gen_vocabulary(reports: Iterable[str], threshold: int,
                     dataset: str = 'mimic_cxr') -> Set[str]:
    """R2Gen's vocabulary: tokens of the cleaned reports seen >= threshold times.

    Args:
        reports (Iterable[str]): The training split's raw reports.
        threshold (int): Minimum count (R2Gen: 10 for MIMIC-CXR, 3 for IU).
        dataset (str): Cleaning rule, ``'mimic_cxr'`` or ``'iu_xray'``.

    Returns:
        set[str]: The vocabulary (``<unk>`` included).
    """
    counts = Counter(token for report in reports
                     for token in clean_report(report, dataset).split())
    return {token for token, n in counts.items() if n >= threshold} | {UNK}


def r2gen_reference(report: str, vocabulary: Set[str], max_seq_length: int,
                    dataset: str = 'mimic_cxr') -> str:
    """The reference text R2Gen scores a generated report against.

    R2Gen encodes ``[0] + ids + [0]``, keeps ``max_seq_length`` ids and
    decodes from the second, so the reference is the cleaned report's first
    ``max_seq_length - 1`` tokens, out-of-vocabulary ones as ``<unk>``,
    joined by single spaces.

    Args:
        report (str): The raw report.
        vocabulary (set[str]): :func:`r2gen_vocabulary` of the training split.
        max_seq_length (int): R2Gen's ``--max_seq_length`` (100 for
            MIMIC-CXR, 60 for IU X-ray).
        dataset (str): Cleaning rule.
    """
    tokens = clean_report(report, dataset).split()[:max_seq_length - 1]
    return ' '.join(t if t in vocabulary else UNK for t in tokens)


def read_annotation(path: str, hint: str = '') -> dict:
    """An ``annotation.json`` (UTF-8) as a dict with the split lists.

    Args:
        path (str): The file.
        hint (str): Appended to the error of a file that is not a JSON
            object of lists (e.g. how to split a flat list).

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: Not UTF-8 JSON, or not a JSON object of lists.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: annotation file not found; place R2Gen\'s '
            'annotation.json there or set ann_file')
    try:
        with open(path, encoding='utf-8') as f:
            annotation = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f'{path}: not UTF-8 JSON ({e})') from e
    if not isinstance(annotation, dict) or not all(
            isinstance(v, list) for v in annotation.values()):
        raise DataFormatError(
            f'{path}: expected a JSON object of lists ({{"train": [...], '
            '"val": [...], "test": [...]}})' + (f'; {hint}' if hint else ''))
    return annotation


def make_reference(raw_reports: Sequence[str], train_reports: Iterable[str],
                   style: str, dataset: str, threshold: int,
                   max_seq_length: int) -> List[str]:
    """``gt_report`` of each raw report under a reference style.

    ``'r2gen'``: :func:`r2gen_reference` with the vocabulary of
    ``train_reports``; ``'clean'``: :func:`crrg.structures.clean_report`;
    ``'raw'``: white space normalised.
    """
    check_choice(style, REFERENCE_STYLES, 'reference')
    if style == 'raw':
        return [normalize_whitespace(r) for r in raw_reports]
    if style == 'clean':
        return [clean_report(r, dataset) for r in raw_reports]
    vocabulary = r2gen_vocabulary(train_reports, threshold, dataset)
    return [
        r2gen_reference(r, vocabulary, max_seq_length, dataset)
        for r in raw_reports
    ]


class R2GenAnnotationDataset(XrayDatasetMixin, BaseDataset):
    """Report generation on an R2Gen-layout ``annotation.json``.

    The base of :class:`R2GenMimicCxrDataset` and
    :class:`~crrg.datasets.IUXrayDataset`, which ship the same layout: each
    entry of ``split`` needs ``id``, ``report`` (a FINDINGS text with words)
    and ``image_path`` (a non-empty list of files relative to ``img_dir``).
    Each data info holds ``img_paths`` (absolute), ``img_id`` (the entry
    ``id``), ``raw_report`` and ``gt_report`` (see ``reference``).

    Args:
        data_root (str): Root the paths are relative to.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): The annotation file.
        img_dir (str): The image folder ``image_path`` is relative to.
        reference (str): ``'r2gen'``: R2Gen's scored reference
            (:func:`r2gen_reference`, vocabulary of the file's train split);
            ``'clean'``: R2Gen's cleaning only
            (:func:`crrg.structures.clean_report`); ``'raw'``: white space
            normalised.
        threshold (int): Vocabulary threshold for ``'r2gen'``.
        max_seq_length (int): For ``'r2gen'``.
        skip_invalid (bool): Skip (count and log) malformed entries and
            missing images, and in training images that cannot be decoded,
            instead of raising.
        pipeline (list): Transforms applied to each data info.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    #: R2Gen's report cleaning rule (:func:`crrg.structures.clean_report`)
    CLEANING = 'mimic_cxr'
    #: what to do when the file is not split (appended to the error)
    SPLIT_HINT = ''

    def __init__(self,
                 data_root: str,
                 split: str,
                 ann_file: str,
                 img_dir: str,
                 reference: str,
                 threshold: int,
                 max_seq_length: int,
                 skip_invalid: bool = False,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 **kwargs) -> None:
        self.select_split(split, skip_invalid)
        if reference not in REFERENCE_STYLES:
            raise ValueError(f'{type(self).__name__}: reference must be one '
                             f'of {REFERENCE_STYLES}, got {reference!r}')
        self.img_dir = img_dir
        self.reference = reference
        self.threshold = threshold
        self.max_seq_length = max_seq_length
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            **kwargs)

    def _entry(self, index: int, entry) -> dict:
        """One data info from entry ``index`` of ``split``."""
        where = f'{self.ann_file}: {self.split}[{index}]'
        if not isinstance(entry, dict):
            raise DataFormatError(f'{where}: entry is not a JSON object')
        where += f' (id={entry.get("id")!r})'
        for key in ('id', 'report', 'image_path'):
            if key not in entry:
                raise DataFormatError(
                    f'{where}: missing field {key!r}; each entry needs '
                    '"id", "report" and "image_path"')
        paths = entry['image_path']
        if (not isinstance(paths, list) or not paths
                or not all(isinstance(p, str) for p in paths)):
            raise DataFormatError(
                f'{where}: field "image_path" must be a non-empty list of '
                f'paths relative to {self.img_dir}/, got {paths!r}')
        report = entry['report']
        if not isinstance(report, str) or not normalize_whitespace(
                report).strip(' .'):
            raise DataFormatError(
                f'{where}: field "report" is empty or has no words '
                f'({report!r}); drop the entry or use skip_invalid=True')
        img_paths = [osp.join(self.data_root, self.img_dir, p) for p in paths]
        for path in img_paths:
            if not osp.isfile(path):
                raise DataFormatError(
                    f'{where}: field "image_path": image file {path} not '
                    'found; check img_dir or use skip_invalid=True')
        return dict(img_paths=img_paths, img_id=str(entry['id']),
                    raw_report=report)

    def load_data_list(self) -> List[dict]:
        """Read ``ann_file``, check every entry of ``split``, log the counts."""
        annotation = read_annotation(self.ann_file, self.SPLIT_HINT)
        if self.split not in annotation:
            raise DataFormatError(
                f'{self.ann_file}: no {self.split!r} list (found '
                f'{sorted(annotation)})' +
                (f'; {self.SPLIT_HINT}' if self.SPLIT_HINT else ''))
        entries = annotation[self.split]
        data_list = self.parse_or_skip(
            list(enumerate(entries)), lambda item: self._entry(*item))
        train = [
            e['report'] for e in annotation.get('train', [])
            if isinstance(e, dict) and isinstance(e.get('report'), str)
        ]
        references = make_reference([d['raw_report'] for d in data_list],
                                    train, self.reference, self.CLEANING,
                                    self.threshold, self.max_seq_length)
        for info, reference in zip(data_list, references):
            info['gt_report'] = reference
        self.log_counts(
            dict(listed=len(entries), skipped=self.num_skipped,
                 kept=len(data_list)),
            note=f'reference {self.reference!r}',
            empty_hint=f'check {self.ann_file}')
        return data_list


@DATASETS.register_module()
class R2GenMimicCxrDataset(R2GenAnnotationDataset):
    """MIMIC-CXR report generation in R2Gen's ``annotation.json`` protocol.

    Each data info holds, besides :class:`R2GenAnnotationDataset`'s,
    ``img_path`` (the entry's first image, as R2Gen's single-image MIMIC-CXR
    loader), ``study_id`` and ``subject_id``.

    Args:
        data_root (str): Root the paths are relative to. Defaults to ''.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): R2Gen's annotation file. Defaults to
            'mimic-cxr-r2gen/annotation.json'.
        img_dir (str): MIMIC-CXR-JPG's ``files/`` folder. Defaults to
            'mimic-cxr-jpg/files'.
        reference (str): Defaults to 'r2gen'.
        threshold (int): Vocabulary threshold. Defaults to 10 (R2Gen).
        max_seq_length (int): Defaults to 100 (R2Gen).
        **kwargs: :class:`R2GenAnnotationDataset`'s other arguments
            (``skip_invalid``, ``pipeline``, ...).
    """

    METAINFO = dict(dataset_name='mimic_cxr_r2gen')
    PUBLISHED_SIZES = dict(train=270_790, val=2_130, test=3_858)

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 ann_file: str = 'mimic-cxr-r2gen/annotation.json',
                 img_dir: str = 'mimic-cxr-jpg/files',
                 reference: str = 'r2gen',
                 threshold: int = R2GEN_SETTINGS['mimic_cxr'][0],
                 max_seq_length: int = R2GEN_SETTINGS['mimic_cxr'][1],
                 **kwargs) -> None:
        super().__init__(data_root, split, ann_file, img_dir, reference,
                         threshold, max_seq_length, **kwargs)

    def _entry(self, index: int, entry) -> dict:
        info = super()._entry(index, entry)
        return dict(info, img_path=info['img_paths'][0],
                    study_id=entry.get('study_id'),
                    subject_id=entry.get('subject_id'))
