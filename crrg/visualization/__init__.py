from .region_report_visualizer import (
    RegionReportVisualizer,
    region_palette,
    rescale_regions,
)

__all__ = ['RegionReportVisualizer', 'region_palette', 'rescale_regions']
