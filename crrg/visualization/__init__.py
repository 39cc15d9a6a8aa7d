from .region_report_visualizer import (
    HIGHLIGHT_COLOUR,
    RegionReportVisualizer,
    colour_distances,
    region_palette,
    regions_from_records,
)

__all__ = [
    'RegionReportVisualizer', 'region_palette', 'regions_from_records',
    'HIGHLIGHT_COLOUR', 'colour_distances'
]
