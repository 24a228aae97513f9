"""Keeping large CPU buffers alive between training steps.

glibc hands any allocation above its mmap threshold (which grows to at most 32 MB) straight back to the kernel
when it is freed. A BERT's word-embedding gradient (30,522 x 384 floats = 47 MB for MiniLM, 94 MB for
BERT-base) is bigger than that, so every training step maps it afresh, page-faults it in and zeroes it. Raising
the mmap and trim thresholds lets the heap keep and reuse such buffers, which is what PyTorch users get by
preloading jemalloc or tcmalloc. Linux with glibc only; elsewhere nothing happens. Called once by fit on CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # buffers up to 1 GiB come from (and go back to) the heap


def keep_large_buffers() -> bool:
    """Ask glibc to reuse large freed blocks instead of unmapping them; True when it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
