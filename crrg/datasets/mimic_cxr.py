"""The MIMIC-CXR-JPG and MIMIC-CXR report layout, read with the real field names.

Layout (paths relative to the roots a config names)::

    files/p10/p10000032/s50414267/02aa804e-...-.jpg    # MIMIC-CXR-JPG image
    files/p10/p10000032/s50414267.txt                  # MIMIC-CXR report
    mimic-cxr-2.0.0-split.csv[.gz]     dicom_id,study_id,subject_id,split
    mimic-cxr-2.0.0-metadata.csv[.gz]  dicom_id,subject_id,study_id,ViewPosition,
                                       Rows,Columns,...
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import pandas as pd

from crrg.structures import extract_section
from crrg.utils import DataFormatError

FRONTAL_VIEWS = ('PA', 'AP')
SPLIT_NAMES = ('train', 'validate', 'test')


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


def read_csv_fields(path: str, fields: Sequence[str]) -> pd.DataFrame:
    """Read a (possibly gzipped) CSV and check that it has ``fields``.

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: A field is missing; the message names file and field.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    table = pd.read_csv(path, dtype={'dicom_id': str})
    missing = [f for f in fields if f not in table.columns]
    if missing:
        raise DataFormatError(f'{path}: missing column(s) {missing}; '
                              f'found {list(table.columns)}')
    return table


def load_image_records(split_file: str,
                       metadata_file: str,
                       split: str,
                       view_positions: Optional[Sequence[str]] = FRONTAL_VIEWS
                       ) -> List[Dict]:
    """Images of one split, joined with their metadata on ``dicom_id``.

    Args:
        split_file (str): ``mimic-cxr-2.0.0-split.csv`` (``dicom_id``,
            ``study_id``, ``subject_id``, ``split``).
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv`` (``dicom_id``,
            ``ViewPosition``, ``Rows``, ``Columns``).
        split (str): One of ``'train'``, ``'validate'``, ``'test'``.
        view_positions (Sequence[str], optional): Keep only these
            ``ViewPosition`` values; None keeps every view. Defaults to
            ``('PA', 'AP')``, the frontal views.

    Returns:
        list[dict]: One dict per image with keys ``dicom_id`` (str),
        ``subject_id`` (int), ``study_id`` (int), ``view_position`` (str),
        ``height`` and ``width`` (int, pixels), in the split file's order.
    """
    if split not in SPLIT_NAMES:
        raise ValueError(f'split must be one of {SPLIT_NAMES}, got {split!r}')
    splits = read_csv_fields(split_file,
                             ('dicom_id', 'study_id', 'subject_id', 'split'))
    meta = read_csv_fields(metadata_file,
                           ('dicom_id', 'ViewPosition', 'Rows', 'Columns'))
    splits = splits[splits['split'] == split]
    table = splits.merge(
        meta[['dicom_id', 'ViewPosition', 'Rows', 'Columns']],
        on='dicom_id',
        how='left',
        validate='one_to_one')
    unmatched = table[table['Rows'].isna()]['dicom_id'].tolist()
    if unmatched:
        raise DataFormatError(
            f'{metadata_file}: no row for dicom_id {unmatched[:5]} '
            f'({len(unmatched)} in all) listed in {split_file}')
    if view_positions is not None:
        table = table[table['ViewPosition'].isin(list(view_positions))]
    return [
        dict(
            dicom_id=row.dicom_id,
            subject_id=int(row.subject_id),
            study_id=int(row.study_id),
            view_position=str(row.ViewPosition),
            height=int(row.Rows),
            width=int(row.Columns)) for row in table.itertuples(index=False)
    ]


def read_report_section(path: str, section: str = 'findings') -> Optional[str]:
    """One section of a report file, white space normalised; None if absent.

    Raises:
        FileNotFoundError: The report file is missing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: report file not found')
    with open(path, encoding='utf-8') as f:
        return extract_section(f.read(), section)
