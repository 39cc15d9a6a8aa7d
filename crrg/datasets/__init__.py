from .chest_imagenome import ChestImaGenomeDataset
from .iu_xray import (IUXrayDataset, make_iu_xray_splits,
                      openi_to_annotation_entries, read_openi_reports)
from .mimic_cxr_image_text import MimicCxrImageTextDataset
from .r2gen import R2GenMimicCxrDataset
from .rsna import RSNAPneumoniaDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'ChestImaGenomeDataset', 'IUXrayDataset',
    'make_iu_xray_splits', 'openi_to_annotation_entries',
    'read_openi_reports', 'R2GenMimicCxrDataset', 'MimicCxrImageTextDataset',
    'RSNAPneumoniaDataset'
]
