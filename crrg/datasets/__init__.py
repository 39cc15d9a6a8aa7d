from .mimic_cxr import DataFormatError
from .regions import ANATOMICAL_REGIONS, NUM_REGIONS
from .transforms import *  # noqa: F401,F403

__all__ = ['ANATOMICAL_REGIONS', 'NUM_REGIONS', 'DataFormatError']
