from .region_detector import (RegionDetector, RegionPredictions,
                              select_region_proposals)

__all__ = ["RegionDetector", "RegionPredictions", "select_region_proposals"]
