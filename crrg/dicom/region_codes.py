"""Coded names of the 29 Chest ImaGenome regions, for DICOM SR.

Each region is coded as a *finding site*: an anatomic location and, for the
paired structures, a laterality, as DICOM's TID 1410 / TID 1501 expect. The
public codes are SNOMED CT codes that DICOM PS3.16 itself lists in its
context groups (e.g. CID 4 "Anatomic Region", CID 6102, CID 244
"Laterality"), so each one can be checked against the code dictionary that
pydicom generates from the standard (``pydicom.sr.codedict.codes.SCT``);
crrg's tests do that. Three regions have no code there that names them:
the costophrenic angle, the upper mediastinum and the cavoatrial junction.
They get private codes of crrg's own coding scheme :data:`PRIVATE_SCHEME`
(DICOM reserves designators that start with ``99`` for private schemes, and
every SR that uses one declares it in its Coding Scheme Identification
Sequence). ``docs/dicom.md`` has the table.
"""
from dataclasses import dataclass
from typing import Dict, Optional

from pydicom.sr.coding import Code

from crrg.structures import ANATOMICAL_REGIONS

#: crrg's private coding scheme designator (``99`` = private, PS3.16 8.2)
PRIVATE_SCHEME = '99CRRG'
#: its name, written into every SR's Coding Scheme Identification Sequence
PRIVATE_SCHEME_NAME = 'crrg private codes'

RIGHT = Code('24028007', 'SCT', 'Right')
LEFT = Code('7771000', 'SCT', 'Left')

LUNG = Code('39607008', 'SCT', 'Lung')
UPPER_ZONE = Code('281392002', 'SCT', 'Upper zone of lung')
MIDDLE_ZONE = Code('281393007', 'SCT', 'Middle zone of lung')
LOWER_ZONE = Code('281394001', 'SCT', 'Lower zone of lung')
HILUM = Code('46750007', 'SCT', 'Hilum of lung')
LUNG_APEX = Code('86598002', 'SCT', 'Apex of Lung')
DIAPHRAGM = Code('5798000', 'SCT', 'Diaphragm')
CLAVICLE = Code('51299004', 'SCT', 'Clavicle')
COSTOPHRENIC_ANGLE = Code('R-COSTOPHRENIC', PRIVATE_SCHEME,
                          'Costophrenic angle')


@dataclass(frozen=True)
class RegionCode:
    """How one region is coded in an SR.

    Attributes:
        name (str): The Chest ImaGenome region name.
        location (Code): The anatomic location (SNOMED CT, or a private
            code of :data:`PRIVATE_SCHEME`).
        laterality (Code, optional): ``Right`` or ``Left`` for the paired
            structures, else None.
    """

    name: str
    location: Code
    laterality: Optional[Code] = None

    @property
    def private(self) -> bool:
        """Whether the location is a private code (no public one fits)."""
        return self.location.scheme_designator == PRIVATE_SCHEME


def _sided(side: str, location: Code, name: str) -> RegionCode:
    return RegionCode(name, location, RIGHT if side == 'right' else LEFT)


def _build() -> Dict[str, RegionCode]:
    codes = {}
    for side in ('right', 'left'):
        for suffix, location in (
            ('lung', LUNG),
            ('upper lung zone', UPPER_ZONE),
            ('mid lung zone', MIDDLE_ZONE),
            ('lower lung zone', LOWER_ZONE),
            ('hilar structures', HILUM),
            ('apical zone', LUNG_APEX),
            ('costophrenic angle', COSTOPHRENIC_ANGLE),
            ('hemidiaphragm', DIAPHRAGM),
            ('clavicle', CLAVICLE),
        ):
            name = f'{side} {suffix}'
            codes[name] = _sided(side, location, name)
    for name, location in (
        ('trachea', Code('44567001', 'SCT', 'Trachea')),
        ('spine', Code('421060004', 'SCT', 'Spine')),
        ('aortic arch', Code('57034009', 'SCT', 'Aortic arch')),
        ('mediastinum', Code('72410000', 'SCT', 'Mediastinum')),
        ('upper mediastinum',
         Code('R-UPPER-MEDIAST', PRIVATE_SCHEME, 'Upper mediastinum')),
        ('svc', Code('48345005', 'SCT', 'Superior vena cava')),
        ('cardiac silhouette', Code('80891009', 'SCT', 'Heart')),
        ('cavoatrial junction',
         Code('R-CAVOATRIAL', PRIVATE_SCHEME, 'Cavoatrial junction')),
        ('right atrium', Code('73829009', 'SCT', 'Right atrium')),
        ('carina', Code('28700002', 'SCT', 'Carina')),
        ('abdomen', Code('818981001', 'SCT', 'Abdomen')),
    ):
        codes[name] = RegionCode(name, location)
    return {name: codes[name] for name in ANATOMICAL_REGIONS}


#: region name -> its code, in region order
REGION_CODES: Dict[str, RegionCode] = _build()


def region_code(name: str) -> RegionCode:
    """The code of a region.

    Args:
        name (str): A Chest ImaGenome region name (see
            :data:`crrg.structures.ANATOMICAL_REGIONS`).

    Raises:
        KeyError: ``name`` is not one of the 29 regions.
    """
    if name not in REGION_CODES:
        raise KeyError(f'region {name!r} has no DICOM code; the SR writer '
                       'codes the 29 Chest ImaGenome regions: '
                       f'{", ".join(ANATOMICAL_REGIONS)}')
    return REGION_CODES[name]
