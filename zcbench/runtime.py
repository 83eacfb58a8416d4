"""Process settings for scoring runs: how the C allocator treats the large, short-lived tensors of a proxy.

Scoring one NB-201 architecture allocates and frees hundreds of activation-sized buffers (1-5 MB each).
glibc serves buffers of that size with fresh `mmap`s, or gives freed heap memory back to the system,
so almost every buffer is page-faulted in again: 15,000-30,000 minor faults per `az` cell on CIFAR-10
at one thread, 55,000-75,000 with two lanes, tens of milliseconds of kernel time. Keeping freed memory
in the process removes them. It changes no value (only where buffers live), and the process's resident
memory stays at its high-water mark, which for a scoring loop is bounded by the largest architecture,
not by how many were scored.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

OPT_OUT_ENV = "ZCBENCH_MALLOC"  # set to "system" to leave the allocator as it is
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20  # the largest value glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20


@functools.cache
def tune_allocator() -> str:
    """Make glibc keep freed memory for reuse (buffers under 32 MiB from the heap, no trimming).

    Idempotent; returns a one-line description of the allocator as set, for reports. Does nothing on other
    C libraries or when ZCBENCH_MALLOC=system.
    """
    if os.environ.get(OPT_OUT_ENV, "").lower() == "system":
        return f"system default ({OPT_OUT_ENV}=system)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "system default (not glibc)"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    applied = all(libc.mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
    if not applied:
        return "system default (mallopt refused)"
    return "glibc keeps freed memory (mmap threshold 32 MiB, no trimming)"
