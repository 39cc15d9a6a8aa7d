"""The MIMIC-CXR-JPG, MIMIC-CXR report and Chest ImaGenome split layouts,
read with the real field names.

Layout (paths relative to the roots a config names)::

    files/p10/p10000032/s50414267/02aa804e-...-.jpg    # MIMIC-CXR-JPG image
    files/p10/p10000032/s50414267.txt                  # MIMIC-CXR report
    mimic-cxr-2.0.0-split.csv[.gz]     dicom_id,study_id,subject_id,split
    mimic-cxr-2.0.0-metadata.csv[.gz]  dicom_id,subject_id,study_id,ViewPosition,
                                       Rows,Columns,...
    silver_dataset/splits/{train,valid,test}.csv    ,subject_id,study_id,
                                                    dicom_id,path,ViewPosition
    silver_dataset/splits/images_to_avoid.csv       subject_id,study_id,
                                                    dicom_id,path,ViewPosition
"""
import math
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pandas as pd

from crrg.structures import extract_findings, extract_section
from crrg.utils import DataFormatError, check_choice

FRONTAL_VIEWS = ('PA', 'AP')
SPLIT_NAMES = ('train', 'validate', 'test')
#: Chest ImaGenome's split files are called train / valid / test
IMAGENOME_SPLIT_NAMES = ('train', 'valid', 'test')

#: Images RGRG drops from Chest ImaGenome's splits as failed X-rays (its
#: ``IMAGE_IDS_TO_IGNORE``; they have no scene graph). Its published split
#: sizes are counted without them.
RGRG_IMAGE_IDS_TO_IGNORE = frozenset((
    '0518c887-b80608ca-830de2d5-89acf0e2-bd3ec900',
    '03b2e67c-70631ff8-685825fb-6c989456-621ca64d',
    '786d69d0-08d16a2c-dd260165-682e66e9-acf7e942',
    '1d0bafd0-72c92e4c-addb1c57-40008638-b9ec8584',
    'f55a5fe2-395fc452-4e6b63d9-3341534a-ebb882d5',
    '14a5423b-9989fc33-123ce6f1-4cc7ca9a-9a3d2179',
    '9c42d877-dfa63a03-a1f2eb8c-127c60c3-b20b7e01',
    '996fb121-fab58dd2-7521fd7e-f9f3133c-bc202556',
    '56b8afd3-5f6d4419-8699d79e-6913a2bd-35a08557',
    '93020995-6b84ca33-2e41e00d-5d6e3bee-87cfe5c6',
    'f57b4a53-5fecd631-2fe14e8a-f4780ee0-b8471007',
    'd496943d-153ec9a5-c6dfe4c0-4fb9e57f-675596eb',
    '46b02f13-69fb7e49-321880e4-80584065-c1f57b50m',
    '422689b1-40e06ae8-d6151ff3-2780c186-6bd67271',
    '8385a8ad-ad5e02a8-8e1fa7f3-d822c648-2a41a205',
    'e180a7b6-684946d6-fe1782de-45ed1033-1a6f8a51',
    'f5f82c2f-e99a7a06-6ecc9991-072adb2f-497dae52',
    '6d54a492-7aade003-a238dc5c-019ccdd2-05661649',
    '2b5edbbf-116df0e3-d0fea755-fabd7b85-cbb19d84',
    'db9511e3-ee0359ab-489c3556-4a9b2277-c0bf0369',
    '87495016-a6efd89e-a3697ec7-89a81d53-627a2e13',
    '810a8e3b-2cf85e71-7ed0b3d3-531b6b68-24a5ca89',
    'a9f0620b-6e256cbd-a7f66357-2fe78c8a-49caac26',
    '46b02f13-69fb7e49-321880e4-80584065-c1f57b50',
))


def study_dir(subject_id: int, study_id: int) -> str:
    """``files/pNN/pSUBJECT/sSTUDY``: the folder of one study's images."""
    subject = f'p{int(subject_id)}'
    return osp.join('files', subject[:3], subject, f's{int(study_id)}')


def image_path(subject_id: int, study_id: int, dicom_id: str) -> str:
    """Relative path of one MIMIC-CXR-JPG image."""
    return osp.join(study_dir(subject_id, study_id), f'{dicom_id}.jpg')


def report_path(subject_id: int, study_id: int) -> str:
    """Relative path of one study's free-text report."""
    return study_dir(subject_id, study_id) + '.txt'


def resolve_csv(path: str) -> str:
    """``path`` if it exists, else its ``.csv`` / ``.csv.gz`` sibling.

    PhysioNet ships the MIMIC-CXR-JPG tables gzipped; many copies are
    unpacked. A config may name either.

    Raises:
        FileNotFoundError: Neither exists; the message names both.
    """
    other = path[:-3] if path.endswith('.gz') else path + '.gz'
    for candidate in (path, other):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(f'{path}: file not found (nor {other})')


def read_csv_fields(path: str, fields: Sequence[str]) -> pd.DataFrame:
    """Read a (possibly gzipped) UTF-8 CSV and check that it has ``fields``.

    ``path`` may name the ``.csv`` or the ``.csv.gz`` (:func:`resolve_csv`).

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: The file is not UTF-8 CSV or a field is missing; the
            message names file and field.
    """
    path = resolve_csv(path)
    try:
        table = pd.read_csv(
            path, dtype={'dicom_id': str}, encoding='utf-8')
    except (UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError, OSError, EOFError) as e:
        raise DataFormatError(f'{path}: not a readable UTF-8 CSV file ({e})') \
            from e
    missing = [f for f in fields if f not in table.columns]
    if missing:
        raise DataFormatError(f'{path}: missing column(s) {missing}; '
                              f'found {list(table.columns)}')
    return table


def _join_metadata(table: pd.DataFrame, metadata_file: str,
                   listed_in: str) -> pd.DataFrame:
    """Add ``ViewPosition``, ``Rows``, ``Columns`` by ``dicom_id``; check them."""
    meta = read_csv_fields(metadata_file,
                           ('dicom_id', 'ViewPosition', 'Rows', 'Columns'))
    columns = ['dicom_id', 'Rows', 'Columns']
    if 'ViewPosition' not in table.columns:
        columns.append('ViewPosition')
    table = table.merge(
        meta[columns], on='dicom_id', how='left', validate='many_to_one')
    unmatched = table[table['Rows'].isna() & table['Columns'].isna()]
    if len(unmatched):
        raise DataFormatError(
            f'{metadata_file}: no row for dicom_id '
            f'{unmatched["dicom_id"].tolist()[:5]} ({len(unmatched)} in all) '
            f'listed in {listed_in}')
    for field in ('Rows', 'Columns'):
        values = pd.to_numeric(table[field], errors='coerce')
        bad = table[~(values.apply(math.isfinite) & (values > 0))]
        if len(bad):
            raise DataFormatError(
                f'{metadata_file}: field "{field}" of dicom_id '
                f'{bad["dicom_id"].tolist()[:5]} is {bad[field].tolist()[:5]}, '
                'not a positive number (the image size in pixels); fix or '
                'remove these rows')
    return table


def _records(table: pd.DataFrame) -> List[Dict]:
    return [
        dict(
            dicom_id=str(row.dicom_id),
            subject_id=int(row.subject_id),
            study_id=int(row.study_id),
            view_position=str(row.ViewPosition),
            height=int(row.Rows),
            width=int(row.Columns)) for row in table.itertuples(index=False)
    ]


def load_image_records(split_file: str,
                       metadata_file: str,
                       split: str,
                       view_positions: Optional[Sequence[str]] = FRONTAL_VIEWS
                       ) -> List[Dict]:
    """Images of one MIMIC-CXR split, joined with their metadata on ``dicom_id``.

    Args:
        split_file (str): ``mimic-cxr-2.0.0-split.csv[.gz]`` (``dicom_id``,
            ``study_id``, ``subject_id``, ``split``).
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``
            (``dicom_id``, ``ViewPosition``, ``Rows``, ``Columns``).
        split (str): One of ``'train'``, ``'validate'`` (or ``'valid'``),
            ``'test'``.
        view_positions (Sequence[str], optional): Keep only these
            ``ViewPosition`` values; None keeps every view. Defaults to
            ``('PA', 'AP')``, the frontal views.

    Returns:
        list[dict]: One dict per image with keys ``dicom_id`` (str),
        ``subject_id`` (int), ``study_id`` (int), ``view_position`` (str),
        ``height`` and ``width`` (int, pixels: ``Rows``, ``Columns``), in the
        split file's order.
    """
    split = 'validate' if split == 'valid' else split
    check_choice(split, SPLIT_NAMES, 'split')
    splits = read_csv_fields(split_file,
                             ('dicom_id', 'study_id', 'subject_id', 'split'))
    splits = splits[splits['split'] == split]
    table = _join_metadata(splits, metadata_file, split_file)
    if view_positions is not None:
        table = table[table['ViewPosition'].isin(list(view_positions))]
    return _records(table)


def read_dicom_ids(path: str) -> set:
    """The ``dicom_id`` column of a table, e.g. ``images_to_avoid.csv``."""
    return set(read_csv_fields(path, ('dicom_id', ))['dicom_id'])


def load_imagenome_split(split_file: str,
                         metadata_file: str,
                         images_to_avoid: Optional[str] = None,
                         ignore: Iterable[str] = RGRG_IMAGE_IDS_TO_IGNORE
                         ) -> Tuple[List[Dict], Dict[str, int]]:
    """Images of one Chest ImaGenome split file, as RGRG selects them.

    The rows of ``silver_dataset/splits/{train,valid,test}.csv`` minus the
    images of ``images_to_avoid.csv`` (the gold-standard patients' images,
    to be kept out of training and validation) and RGRG's failed X-rays
    (:data:`RGRG_IMAGE_IDS_TO_IGNORE`), joined with MIMIC-CXR-JPG's metadata
    for the image size.

    Args:
        split_file (str): ``train.csv``, ``valid.csv`` or ``test.csv``
            (``.gz`` accepted).
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``.
        images_to_avoid (str, optional): ``images_to_avoid.csv``; None keeps
            every row.
        ignore (Iterable[str]): Further ``dicom_id`` values to drop.

    Returns:
        tuple[list[dict], dict]: The records (as :func:`load_image_records`),
        in the split file's order, and counts ``listed``, ``avoided``,
        ``ignored``.
    """
    # RGRG reads subject_id, study_id, dicom_id (and path) only; the view,
    # when the file lacks it, comes from the metadata
    table = read_csv_fields(split_file, ('subject_id', 'study_id', 'dicom_id'))
    avoid = read_dicom_ids(images_to_avoid) if images_to_avoid else set()
    ignore = set(ignore)
    avoided = table['dicom_id'].isin(avoid)
    ignored = table['dicom_id'].isin(ignore) & ~avoided
    counts = dict(
        listed=len(table), avoided=int(avoided.sum()),
        ignored=int(ignored.sum()))
    table = table[~(avoided | ignored)]
    table = _join_metadata(table, metadata_file, split_file)
    return _records(table), counts


def read_text(path: str, what: str = 'text file') -> str:
    """A UTF-8 text file's content.

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: The bytes are not UTF-8; the message names the file
            and the offending byte offset.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {what} not found')
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise DataFormatError(
            f'{path}: {what} is not UTF-8 text (byte {e.start}: '
            f'{data[e.start:e.start + 4]!r}); re-encode it as UTF-8 or use '
            'skip_invalid=True') from e


def read_report_section(path: str,
                        section: str = 'findings',
                        study_id: Optional[int] = None) -> Optional[str]:
    """One section of a UTF-8 report file, white space normalised; None if absent.

    ``'findings'`` is the reference FINDINGS as RGRG takes it
    (:func:`crrg.structures.extract_findings`: the last findings section,
    None for the official parser's hand-sectioned studies when ``study_id``
    is given); another name is the last section of that name.

    Raises:
        FileNotFoundError: The report file is missing.
        DataFormatError: The file is not UTF-8.
    """
    text = read_text(path, 'report file')
    if section == 'findings':
        return extract_findings(text, study_id)
    return extract_section(text, section)
