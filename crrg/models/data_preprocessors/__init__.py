from .xray_data_preprocessor import XrayDetDataPreprocessor

__all__ = ['XrayDetDataPreprocessor']
