"""DICOM output: Structured Reports of crrg's predictions (highdicom) and a
DICOMweb worker that stores them into an archive (dicomweb-client)."""
from .dicomweb import DicomWebReportWorker, DicomWebSettings
from .region_codes import PRIVATE_SCHEME, region_code
from .sr import (ModelInfo, SRSourceError, build_sr, read_sr, sr_uid,
                 write_sr)

__all__ = [
    'build_sr', 'write_sr', 'read_sr', 'sr_uid', 'ModelInfo', 'SRSourceError',
    'region_code', 'PRIVATE_SCHEME', 'DicomWebReportWorker',
    'DicomWebSettings'
]
