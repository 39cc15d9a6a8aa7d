from .region_report_visualizer import (RegionReportVisualizer,
                                       regions_from_records)

__all__ = ['RegionReportVisualizer', 'regions_from_records']
