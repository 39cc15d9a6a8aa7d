"""crrg.utils.allocator: what stream's replicas set on their allocator."""
import platform
import subprocess
import sys

import pytest

from crrg.utils import allocator

# Allocate 200 MiB in 64 KiB blocks, free them, allocate them again; print
# the page faults of the second round. Run in a fresh interpreter (the
# module loaded from its file alone): a process whose heap is already large
# and fragmented (e.g. pytest's, or a fork of it) may reuse its holes
# whatever the settings.
REFAULT = """
import importlib.util, resource, sys
import numpy as np
spec = importlib.util.spec_from_file_location('allocator', sys.argv[1])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
if sys.argv[2] == 'keep':
    assert allocator.keep_freed_memory()
blocks = [np.ones(8192) for _ in range(3200)]
del blocks
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
blocks = [np.ones(8192) for _ in range(3200)]
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')
def test_keep_freed_memory_reuses_the_pages():
    """By default glibc trims the freed heap and every page of the next
    round faults in again (~29,000 faults here); kept, almost none do."""
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, '-c', REFAULT, allocator.__file__, mode],
                check=True, capture_output=True, text=True).stdout)
        for mode in ('default', 'keep')
    }
    assert faults['default'] > 10_000
    assert faults['keep'] < 1_000
