from .single_level_roi_extractor import OneMapRoIExtractor

__all__ = ['OneMapRoIExtractor']
