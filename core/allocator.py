"""Keeping large CPU buffers alive between training steps.

glibc hands any allocation above its mmap threshold (which grows to at most 32 MB) straight back to the kernel
when it is freed. A BERT's word-embedding gradient (30,522 x 384 floats = 47 MB for MiniLM, 94 MB for
BERT-base) is bigger than that, so every training step maps it afresh, page-faults it in and zeroes it. Raising
the mmap threshold lets the heap keep and reuse such buffers, which is what PyTorch users get by preloading
jemalloc or tcmalloc (about 6% less CPU time per MiniLM step, measured). The trim threshold is left as glibc sets
it: raising it too (so the heap never shrinks) cost about 90 MB of peak RSS on a CoLA-sized run for no speed
(bench/bench_fit.py). Linux with glibc only; elsewhere nothing happens. Called once by fit on CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # buffers up to 1 GiB come from (and go back to) the heap


def keep_large_buffers() -> bool:
    """Ask glibc to serve large blocks from its heap and reuse them instead of unmapping them; True when it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES))
