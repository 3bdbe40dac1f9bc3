"""Seeded random generators: one on the backend for tensors, one on the host for data order.

Every random draw in minidl comes from here, so ``manual_seed(s)`` makes a whole run repeat exactly on
the CPU. Tensor draws (initializers, dropout masks, gradient noise) use the backend generator, so under
CuPy they are made on the GPU; shuffling the rows of host data uses the host generator.
"""
import numpy

from minidl import backend, checks
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
    """Backend array of ``shape`` drawn from U[low, high) directly in ``dtype`` (float16: drawn in
    float32, then rounded)."""
    dtype = numpy.dtype(dtype)
    return (low + (high - low) * _device.random(shape, dtype=drawn_in(dtype))).astype(dtype, copy=False)


def normal(shape, mean=0.0, std=1.0, dtype=numpy.float32):
    """Backend array of ``shape`` drawn from N(mean, std^2) directly in ``dtype`` (float16: drawn in
    float32, then rounded)."""
    dtype = numpy.dtype(dtype)
    return (mean + std * _device.standard_normal(shape, dtype=drawn_in(dtype))).astype(dtype, copy=False)


def drawn_in(dtype):
    """The dtype that numbers of ``dtype`` are drawn and worked on in: float32 for float16, which the
    generators (and LAPACK) do not make, else ``dtype`` itself."""
    dtype = numpy.dtype(dtype)
    return numpy.dtype(numpy.float32) if dtype == numpy.float16 else dtype


def truncated_normal(shape, mean, std, low, high, dtype=numpy.float32):
    """Backend array of ``shape`` drawn from N(mean, std^2) truncated to [low, high], in ``dtype``.

    Inverse-CDF sampling, exact however far in a tail the bounds lie, and without a loop: one uniform u
    per value from the backend generator gives z = Phi^-1(Phi(a) + u (Phi(b) - Phi(a))) for the
    standardized bounds a < b. An interval that lies mostly above the mean is mirrored below it, where
    Phi(a) and Phi(b) keep their relative precision, and the formula is evaluated in log space
    (log Phi and its inverse), where neither underflows. The quantiles are computed on the host (SciPy)
    and moved to the device. Every value lies in [low, high], rounded inward to ``dtype``.

    Raises:
        ValueError: when no number of ``dtype`` lies in [low, high].
    """
    from scipy import special  # imported here: it would double the time of ``import minidl``

    dtype = numpy.dtype(dtype)
    least, greatest = _within(low, high, dtype)
    a, b = (low - mean) / std, (high - mean) / std
    side = 1.0 if a + b <= 0 else -1.0
    a, b = sorted((side * a, side * b))
    log_a, log_b = special.log_ndtr(a), special.log_ndtr(b)
    u = backend.asnumpy(_device.random(shape, dtype=numpy.float64))
    if log_b == -numpy.inf:  # beyond 1e154 std log Phi overflows, but the mass lies within an ulp of b
        z = 0.0 * u + b
    else:  # log(Phi(a) + u (Phi(b) - Phi(a))) = log Phi(b) + log(1 - (1 - u) (1 - Phi(a) / Phi(b)))
        z = special.ndtri_exp(log_b + special.log1p((1.0 - u) * special.expm1(log_a - log_b)))
    values = (mean + std * side * z).astype(dtype).clip(least, greatest)
    return backend.to_device(values)


def _within(low, high, dtype):
    """The least and the greatest number of ``dtype`` in [low, high] (compared as Python floats: NumPy
    compares a float32 with a Python float in float32)."""
    least, greatest = dtype.type(low), dtype.type(high)
    if float(least) < low:
        least = numpy.nextafter(least, dtype.type(numpy.inf))
    if float(greatest) > high:
        greatest = numpy.nextafter(greatest, dtype.type(-numpy.inf))
    if least > greatest:
        raise ValueError(f"truncated_normal: no {dtype} number lies in [low, high] = [{low!r}, {high!r}]")
    return least, greatest
