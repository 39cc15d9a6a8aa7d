"""What crrg's data means, importable without loading any dataset or model:
the anatomical regions and the report-text rules shared by datasets, metrics
and visualisers."""
from .regions import ANATOMICAL_REGIONS, NUM_REGIONS, REGION_INDEX
from .report_text import (clean_report, extract_findings, extract_section,
                          normalize_whitespace, section_text, split_sections)

__all__ = [
    'ANATOMICAL_REGIONS', 'NUM_REGIONS', 'REGION_INDEX', 'clean_report',
    'extract_findings', 'extract_section', 'normalize_whitespace',
    'section_text', 'split_sections'
]
