"""Reusable scratch arrays for the large temporaries of convolution and pooling.

Why: a fresh large NumPy array is memory the operating system must map and zero page by page on first
touch; for the im2col columns, the convolution outputs and the gradient images of a training step that
was about a quarter of the wall time. :func:`empty` hands out an array that an earlier step allocated and
no longer uses, so steady-state training touches memory that is already mapped.

When an array is free: the pool keeps one reference to every array it made. NumPy views keep their base
array alive, so while any Tensor, saved Function state or view still uses an array, its reference count
is above the pool's own and it is not handed out again. A graph kept alive (a loss not yet dropped, or
two forward passes before one backward) simply makes the pool allocate a second set. Nothing is ever
shared between live arrays.

When the arrays it holds exceed :data:`limit_bytes`, the pool drops free ones, the least recently
requested shapes first; :func:`clear` drops every array it holds. It is safe to use from several threads.
"""
import collections
import os
import sys
import threading

from minidl.backend import xp

limit_bytes = 1 << 30  # beyond this many bytes held (1 GiB), free arrays are dropped, oldest shapes first
# below this size :func:`like` allocates directly: small arrays come from the allocator's own free lists, and
# the pool's bookkeeping (a lock, a dictionary look-up) would cost more than it saves
SMALL_BYTES = 1 << 18
_MAX_PER_SHAPE = 4  # arrays in use at once per shape before the pool stops keeping more
_pool = collections.OrderedDict()  # (shape, dtype) -> list of arrays, least recently requested first
_lock = threading.Lock()  # two threads must never both find the same array free
# references to an array of the pool that is free: the pool's list, the name in _is_free, getrefcount's
# argument
_FREE_REFERENCES = 3


def _is_free(arrays, index):
    array = arrays[index]
    return sys.getrefcount(array) == _FREE_REFERENCES


def empty(shape, dtype):
    """An uninitialized backend array of ``shape`` and ``dtype`` that nothing else uses.

    Reuses a free array of the same shape and dtype when the pool holds one, else allocates (and keeps
    it for later reuse, within :data:`limit_bytes`). The contents are arbitrary: write every element.
    """
    key = (tuple(shape), xp.dtype(dtype))
    with _lock:
        arrays = _pool.pop(key, [])
        _pool[key] = arrays  # now the most recently requested
        for index in range(len(arrays)):
            if _is_free(arrays, index):
                return arrays[index]
        array = xp.empty(key[0], dtype=key[1])
        if len(arrays) < _MAX_PER_SHAPE:
            arrays.append(array)
            _evict()
        return array


def like(array, dtype=None):
    """An uninitialized array of ``array``'s shape and memory order (a channel-major (N, C, H, W) view
    gets a channel-major scratch array), of ``dtype`` (``array``'s by default); from the pool when it
    is at least SMALL_BYTES. Elementwise operations between arrays of one memory order run in one pass
    of long inner loops; a mismatched order would transpose on the fly."""
    dtype = array.dtype if dtype is None else xp.dtype(dtype)
    if array.size * dtype.itemsize < SMALL_BYTES:
        return xp.empty_like(array, dtype=dtype)
    order = sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis]))  # outermost first
    scratch = empty(tuple(array.shape[axis] for axis in order), dtype)
    return scratch.transpose(sorted(range(array.ndim), key=order.__getitem__))


def held_bytes():
    """Bytes of all arrays the pool holds, free or in use."""
    return sum(array.nbytes for arrays in _pool.values() for array in arrays)


def _evict():
    """Drop free arrays, least recently requested shapes first, until the pool is within the limit."""
    total = held_bytes()
    for arrays in list(_pool.values()):
        if total <= limit_bytes:
            return
        index = len(arrays) - 1
        while index >= 0 and total > limit_bytes:
            if _is_free(arrays, index):
                total -= arrays.pop(index).nbytes
            index -= 1


def _new_lock_after_fork():
    """A forked child gets a fresh lock: another thread of the parent may have held it at the fork."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def clear():
    """Forget every array of the pool (arrays still in use stay valid; they are just not reused)."""
    with _lock:
        _pool.clear()
