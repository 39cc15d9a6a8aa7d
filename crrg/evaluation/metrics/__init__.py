from .region_detection_metric import RegionDetectionMetric  # noqa: F401
