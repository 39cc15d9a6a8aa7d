"""The coded names of the 29 regions: every public code is one that DICOM
PS3.16 lists (pydicom's dictionary of the standard), with its meaning; the
rest are private codes of crrg's declared scheme; docs/dicom.md shows them."""
from collections import defaultdict
from pathlib import Path

import pytest
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from crrg.dicom import PRIVATE_SCHEME, region_code
from crrg.dicom.region_codes import LEFT, REGION_CODES, RIGHT
from crrg.dicom.sr import CHEST, PLAIN_RADIOGRAPHY
from crrg.structures import ANATOMICAL_REGIONS

REPO = Path(__file__).resolve().parents[2]


def standard_sct() -> dict:
    """SNOMED CT code value -> the meanings DICOM gives it."""
    meanings = defaultdict(set)
    for keyword in dir(codes.SCT):
        code = getattr(codes.SCT, keyword)
        if isinstance(code, Code):
            meanings[code.value].add(code.meaning)
    return meanings


def test_every_region_is_coded_with_standard_or_declared_private_codes():
    assert list(REGION_CODES) == list(ANATOMICAL_REGIONS)
    sct = standard_sct()
    private = []
    for name, code in REGION_CODES.items():
        location = code.location
        assert len(location.value) <= 16  # Code Value is SH
        if code.private:
            assert location.scheme_designator == PRIVATE_SCHEME
            private.append(name)
        else:
            assert location.scheme_designator == 'SCT'
            assert location.meaning in sct[location.value], name
        side = name.split()[0]
        if side in ('right', 'left') and name != 'right atrium':
            assert code.laterality == (RIGHT if side == 'right' else LEFT)
        else:
            assert code.laterality is None, name
    assert private == [
        'right costophrenic angle', 'left costophrenic angle',
        'upper mediastinum', 'cavoatrial junction'
    ]
    for code in (RIGHT, LEFT, CHEST, PLAIN_RADIOGRAPHY):
        assert code.meaning in sct[code.value]
    assert PRIVATE_SCHEME.startswith('99')


def test_unknown_region_is_named():
    with pytest.raises(KeyError, match="'region 7' has no DICOM code"):
        region_code('region 7')


def test_docs_table_matches_the_codes():
    rows = {}
    for line in (REPO / 'docs' / 'dicom.md').read_text().splitlines():
        cells = [c.strip().strip('`') for c in line.strip('|').split('|')]
        if len(cells) >= 4 and cells[1] in REGION_CODES:
            rows[cells[1]] = cells
    assert set(rows) == set(REGION_CODES)
    for name, cells in rows.items():
        code = REGION_CODES[name]
        assert cells[2] == code.location.value, name
        assert cells[3] == code.location.scheme_designator, name
