from .region_detector import RegionDetector, RegionPredictions

__all__ = ['RegionDetector', 'RegionPredictions']
