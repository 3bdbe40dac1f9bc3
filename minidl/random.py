"""Seeded random generators: one on the backend for tensors, one on the host for data order.

Every random draw in minidl comes from here, so ``manual_seed(s)`` makes a whole run repeat exactly on
the CPU. Tensor draws (initializers, dropout masks, gradient noise) use the backend generator, so under
CuPy they are made on the GPU; shuffling the rows of host data uses the host generator.
"""
import numpy

from minidl import checks
from minidl.backend import xp

DEFAULT_SEED = 0
_device = xp.random.default_rng(DEFAULT_SEED)
_host = numpy.random.default_rng(DEFAULT_SEED)


def manual_seed(seed):
    """Reset both generators from the integer ``seed``.

    Raises:
        TypeError: when ``seed`` is not an integer (bool included).
        ValueError: when it is negative.
    """
    global _device, _host
    seed = checks.integer(seed, "seed", "manual_seed", low=0)
    _device = xp.random.default_rng(seed)
    _host = numpy.random.default_rng(seed)


def generator():
    """The backend generator (a numpy or cupy ``Generator``) used for tensor draws."""
    return _device


def host_generator():
    """The host NumPy ``Generator`` used for data order (shuffling, sampling rows)."""
    return _host


def uniform(shape, low=0.0, high=1.0, dtype=numpy.float32):
    """Backend array of ``shape`` drawn from U[low, high) directly in ``dtype``."""
    return low + (high - low) * _device.random(shape, dtype=dtype)


def normal(shape, mean=0.0, std=1.0, dtype=numpy.float32):
    """Backend array of ``shape`` drawn from N(mean, std^2) directly in ``dtype``."""
    return mean + std * _device.standard_normal(shape, dtype=dtype)
