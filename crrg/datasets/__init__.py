from .back_translation import (MarianBackTranslator, MarianTranslator,
                               back_translate_scene_graphs)
from .chest_imagenome import ChestImaGenomeDataset, parse_scene_graph
from .iu_xray import IUXrayDataset, make_iu_xray_splits
from .mimic_cxr import DataFormatError
from .mimic_cxr_image_text import (MimicCxrImageTextDataset,
                                   read_generated_reports)
from .rsna import RSNAPneumoniaDataset
from .regions import ANATOMICAL_REGIONS, NUM_REGIONS
from .transforms import *  # noqa: F401,F403

__all__ = [
    'ANATOMICAL_REGIONS', 'NUM_REGIONS', 'DataFormatError',
    'ChestImaGenomeDataset', 'parse_scene_graph', 'MarianBackTranslator',
    'MarianTranslator', 'back_translate_scene_graphs', 'IUXrayDataset',
    'make_iu_xray_splits', 'MimicCxrImageTextDataset', 'read_generated_reports',
    'RSNAPneumoniaDataset'
]
