"""Large strided copies split over the CPU cores.

Why: NumPy runs every copy and ufunc on one thread, and a copy between arrays of different memory order
(the im2col matrix gathered from the windows of an image, a padded image) runs as many short inner loops
(one image row each), so one core's loop overhead, not the memory, bounds it. Split along the first axis
into one part per thread, such a copy runs 1.3-1.7x faster on two cores (measured on the conv benchmark's
im2col matrices). NumPy releases the GIL inside its copy loops, so plain Python threads run the parts at
once. Contiguous copies and elementwise ufuncs gain nothing (memory bandwidth already bounds them), and
in-place adds over strided views (col2im, pooling) measured slower in two threads than in one.

``threads`` is the number of parts (the CPUs this process may use, at most 8); :func:`limited` lowers
it for a block of the calling thread, as ``threadpoolctl.threadpool_limits`` does for BLAS (the
experiment engine runs each trial of a parallel sweep with one thread of each). Host (NumPy) arrays
only: under CuPy a copy is one device kernel already.
"""
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

from minidl.backend import xp

threads = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                     (os.cpu_count() or 1)))
_limit = threading.local()  # the calling thread's cap from limited(), if any
MIN_BYTES = 1 << 20  # smaller copies run on the calling thread: a hand-off costs about 20 microseconds
_pool = None
_pool_lock = threading.Lock()


def copyto(destination, source):
    """``destination[...] = source`` (broadcasting ``source``), in one part per thread along the first
    axis where ``destination`` is a host array of at least MIN_BYTES, else on the calling thread."""
    cap = getattr(_limit, "threads", threads)
    parts = min(threads, cap, destination.shape[0] if destination.ndim else 1)
    if parts < 2 or destination.nbytes < MIN_BYTES or not isinstance(destination, numpy.ndarray):
        destination[...] = source
        return destination
    source = xp.broadcast_to(source, destination.shape)

    def part(start, stop):
        destination[start:stop] = source[start:stop]
    bounds = [destination.shape[0] * k // parts for k in range(parts + 1)]
    futures = [_executor().submit(part, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    part(bounds[0], bounds[1])
    for future in futures:
        future.result()
    return destination


@contextlib.contextmanager
def limited(count):
    """Run a block of the calling thread with at most ``count`` threads per copy (1: every copy on the
    calling thread). Other threads keep their own setting."""
    before = getattr(_limit, "threads", None)
    _limit.threads = max(1, min(before or threads, int(count)))
    try:
        yield
    finally:
        if before is None:
            del _limit.threads
        else:
            _limit.threads = before


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < threads - 1:
            _pool = ThreadPoolExecutor(max_workers=max(1, threads - 1), thread_name_prefix="minidl-copy")
        return _pool


def _forget_pool_after_fork():
    """A forked child has none of its parent's threads: it starts a pool of its own (waiting on the
    parent's would wait forever)."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
