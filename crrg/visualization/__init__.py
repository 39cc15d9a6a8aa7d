from .region_report_visualizer import (
    RegionReportVisualizer,
    region_palette,
    regions_from_records,
)

__all__ = ['RegionReportVisualizer', 'region_palette', 'regions_from_records']
