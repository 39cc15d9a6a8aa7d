"""The C allocator of this process.

Dependency-free (``ctypes`` only), so that a test can load it into a fresh
interpreter whose allocator nothing else has touched yet.
"""
import ctypes

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Make this process's C allocator keep freed memory for reuse: blocks
    up to 32 MiB (glibc's largest mmap threshold) come from the heap
    instead of fresh mappings, and the heap is not trimmed below 1 GiB.

    A process that predicts batch after batch frees and re-allocates its
    activations at every call; by default glibc returns the large ones to
    the kernel, and every page of the next call's faults in again (~20,000
    page faults per batch of 8 twin images with the tiny generator). Kept,
    the pages are reused. The price is memory: the process stays at its peak
    (up to 1 GiB of freed heap). For processes that own their allocator,
    such as the replicas of
    :meth:`crrg.apis.base.BaseXrayInferencer.stream`.

    Returns:
        bool: Whether the allocator took the settings (glibc only; elsewhere
        nothing changes).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. macOS)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 1 << 30))
