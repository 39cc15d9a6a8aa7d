from .region_report_visualizer import (
    RegionReportVisualizer,
    region_palette,
    regions_from_records,
    rescale_regions,
)

__all__ = [
    'RegionReportVisualizer', 'region_palette', 'regions_from_records',
    'rescale_regions'
]
