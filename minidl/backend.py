"""The one place that knows NumPy from CuPy.

The array module is chosen once, at import, from the environment variable ``MINIDL_BACKEND``:

- ``numpy`` (the default): arrays live in host memory;
- ``cupy``: arrays live on the GPU (install the ``gpu`` extra: ``pip install minidl[gpu]``).

Compute code writes ``from minidl.backend import xp`` and never imports numpy or cupy for device data.
Moving data between host and device happens only through :func:`to_device` and :func:`asnumpy`, so every
copy across the bus is visible in the code. Mixing a host array into device computation is an error,
never a silent copy (:func:`check_on_backend`).
"""
import os

import numpy

VARIABLE = "MINIDL_BACKEND"
CHOICES = ("numpy", "cupy")
GPU_EXTRA = "pip install 'minidl[gpu]'"


def _select(requested):
    """Return (name, array module) for the requested backend, or raise a clear error."""
    requested = requested.strip().lower()
    if requested not in CHOICES:
        raise ValueError(
            f"{VARIABLE}={requested!r} is not a backend; expected one of {', '.join(CHOICES)} "
            f"(cupy needs the GPU extra: {GPU_EXTRA})")
    if requested == "numpy":
        return "numpy", numpy
    try:
        import cupy
    except ImportError as error:
        raise ImportError(
            f"{VARIABLE}=cupy needs CuPy, which is not installed ({error}); install the GPU extra "
            f"with {GPU_EXTRA}, or set {VARIABLE}=numpy") from error
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDA driver missing or broken: CuPy raises its own runtime errors
        raise RuntimeError(
            f"{VARIABLE}=cupy but no usable CUDA GPU was found ({error}); set {VARIABLE}=numpy") from error
    if count == 0:
        raise RuntimeError(f"{VARIABLE}=cupy but no CUDA GPU is visible; set {VARIABLE}=numpy")
    return "cupy", cupy


name, xp = _select(os.environ.get(VARIABLE, "numpy"))
on_gpu = name == "cupy"


def asnumpy(a):
    """Return ``a`` as a host NumPy array (a copy from the GPU under CuPy; ``a`` itself on the host)."""
    if on_gpu and isinstance(a, xp.ndarray):
        return xp.asnumpy(a)
    return numpy.asarray(a)


def to_device(a, dtype=None):
    """Return ``a`` (a NumPy array, list or scalar) as an array of the active backend, on its device."""
    return xp.asarray(a, dtype=dtype)


def get_array_module(a):
    """The array module (numpy or cupy) that ``a`` belongs to."""
    if on_gpu:
        return xp.get_array_module(a)
    return numpy


def is_backend_array(a):
    """True when ``a`` is an array of the active backend (a device array under CuPy)."""
    return isinstance(a, xp.ndarray)


def check_on_backend(a, where):
    """Raise a TypeError naming ``where`` when ``a`` is a host array while the backend is on the GPU."""
    if on_gpu and isinstance(a, numpy.ndarray):
        raise TypeError(
            f"{where}: got a host (NumPy) array while {VARIABLE}=cupy; move it explicitly with "
            f"minidl.backend.to_device(a)")
    return a


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice, numpy.integer)) for p in parts)


def scatter_add(target, index, values):
    """``target[index] += values`` in place, where repeated integer indices all add up."""
    if _is_basic_index(index):
        target[index] += values
    else:
        xp.add.at(target, index, values)


def as_strided(a, shape, strides):
    """A zero-copy view of ``a`` with the given shape and byte strides (numpy's or cupy's as_strided)."""
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def synchronize():
    """Wait until the GPU has finished all queued work (a no-op on the CPU): call it before reading a
    clock, since CuPy returns from a call before its kernels have run."""
    if on_gpu:
        xp.cuda.Device().synchronize()
