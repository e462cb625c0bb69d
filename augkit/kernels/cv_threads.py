"""Who runs the cv kernels' per-image OpenCV calls: augkit's thread pool, or the caller alone.

:func:`map_chunks` splits a batch over one process-wide pool (one thread per core, up to 8)
when it is large enough, and runs it on the calling thread inside :func:`serial` (tf.data's
parallel calls already use the cores). Before the first call it sets OpenCV's own thread count
once (:func:`_opencv_threads`): one, unless ``AUGKIT_OPENCV_THREADS`` says otherwise.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import cv2

# Below this many output pixels per batch, thread start-up costs more than it saves.
THREAD_MIN_PIXELS = 1 << 17
WORKERS = max(1, min(os.cpu_count() or 1, 8))
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One process-wide pool (made on first use): creating threads per batch costs more than
    warping a batch of small images."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(WORKERS, thread_name_prefix="augkit-cv")
    return _POOL


#: Set by :func:`serial` for the calling thread.
_LOCAL = threading.local()
#: ``keep`` leaves OpenCV's thread count alone; a number is the count augkit sets.
OPENCV_THREADS_ENV = "AUGKIT_OPENCV_THREADS"
_opencv_threads_set = False
_THREADS_LOCK = threading.Lock()


@contextmanager
def serial() -> Iterator[None]:
    """Run this thread's cv kernels on this thread alone, without augkit's worker threads.

    For callers that already run several batches at once, e.g. the parallel calls of a
    ``tf.data`` map: their threads and augkit's would share the same cores and GIL, and the
    extra hand-offs cost more than the split saves.
    """
    before = getattr(_LOCAL, "serial", False)
    _LOCAL.serial = True
    try:
        yield
    finally:
        _LOCAL.serial = before


def _opencv_threads() -> None:
    """Set OpenCV's own thread count once, before augkit's first OpenCV kernel call.

    augkit spreads a batch over its own threads, one OpenCV call per image; OpenCV's pool on
    top only adds hand-offs between threads that spin while they wait. Measured on 2 cores,
    warps of 32 px images: 16.5 µs of CPU per image with OpenCV's 2 threads, 9.5 µs with 1,
    for the same wall time at 224 px. So augkit sets 1 unless the environment variable
    ``AUGKIT_OPENCV_THREADS`` says ``keep`` (leave OpenCV alone) or another count.
    """
    global _opencv_threads_set
    if _opencv_threads_set:
        return
    wanted = os.environ.get(OPENCV_THREADS_ENV, "1").strip().lower()
    try:
        count = None if wanted == "keep" else int(wanted)
    except ValueError:
        from augkit.errors import InputError

        raise InputError(f"{OPENCV_THREADS_ENV}={wanted!r}: expected 'keep' or a whole number "
                         "of threads for OpenCV (0 or 1 = no OpenCV threads)") from None
    with _THREADS_LOCK:
        if not _opencv_threads_set and count is not None:
            cv2.setNumThreads(count)
        _opencv_threads_set = True


def map_chunks(fn: Any, n: int, pixels: int) -> None:
    """Run ``fn(start, stop)`` over the batch, on threads when the batch is large."""
    _opencv_threads()
    serial_here = getattr(_LOCAL, "serial", False)
    workers = WORKERS if pixels >= THREAD_MIN_PIXELS and not serial_here else 1
    if workers == 1 or n < 2:
        fn(0, n)
        return
    step = math.ceil(n / workers)
    list(_pool().map(lambda s: fn(s, min(n, s + step)), range(0, n, step)))
