"""glibc's allocator, tuned once per process for a run that reads many large files.

Every file the pipeline reads is one ``bytes`` of its size (a 12-MP photo: 2–7 MB).
glibc serves blocks that large with ``mmap`` at first and returns them to the
kernel when freed (``munmap``, and memory above ``M_TRIM_THRESHOLD`` at the top of
a heap is trimmed too), so the next file's bytes arrive in fresh pages: each 4 KiB
page faulted in and zeroed by the kernel. Here that cost 1.6 ms of CPU per MB read
(a 6.5 MB HEIC: 10 ms of system time for its read, more than decoding its
thumbnail). glibc's own remedy — raising the mmap threshold after such a block is
freed — comes and goes with the order of frees across threads.

:func:`tune` fixes the mmap threshold at 32 MiB (glibc's maximum for its heaps:
file bytes come from the heap, and their freed memory is reused warm) and keeps up
to ``keep`` bytes of freed memory at a heap's top instead of trimming it. The cost
is memory kept mapped after a run's peak, which the pipeline's read budget bounds
(bench/results/library.json: peak RSS with and without). Nothing is done off glibc,
or when the user set the allocator's parameters (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) or ``PICFIND_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os
import threading

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks at least this large still get their own mapping (returned when freed)."""

_lock = threading.Lock()
_done = False


def tune(keep: int) -> bool:
    """Tune glibc's malloc as described above (once per process); True when it did."""
    global _done
    with _lock:
        if _done:
            return False
        _done = True
        if not _allowed():
            return False
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        return bool(mallopt(_M_TRIM_THRESHOLD, max(keep, MMAP_THRESHOLD)) == 1 and ok)


def _allowed() -> bool:
    if os.environ.get("PICFIND_MALLOC", "").lower() == "default":
        return False
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
    except (ValueError, OSError, AttributeError):  # not glibc, or not POSIX
        return False
    user = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    return not any(k in os.environ for k in user) and "malloc" not in os.environ.get(
        "GLIBC_TUNABLES", ""
    )
