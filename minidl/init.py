"""Weight initializers. Each fills a Tensor in place from the seeded backend generator, in its own dtype.

Fans follow PyTorch: for a weight of shape (out, in, k1, k2, ...), fan_in = in * k1 * k2 * ... and
fan_out = out * k1 * k2 * ...  Gains: 1 for linear, sqrt(2) for ReLU.

Every initializer takes a floating Tensor and finite hyperparameters: a non-Tensor or non-floating
target raises TypeError, a NaN, infinite or out-of-range hyperparameter ValueError (see each ``Raises:``).
"""
import math

import numpy

from minidl import checks, random
from minidl.autograd import Tensor
from minidl.backend import xp

GAINS = {"linear": 1.0, "relu": math.sqrt(2.0)}


def fans(shape):
    """(fan_in, fan_out) of a weight shape (out, in, *kernel)."""
    if len(shape) < 2:
        raise ValueError(f"init.fans: expected a weight with at least 2 axes (out, in, ...), got {shape}")
    receptive = int(numpy.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def gain_for(nonlinearity):
    """The recommended gain of ``nonlinearity`` ('linear' or 'relu').

    Raises:
        ValueError: for another name.
    """
    return GAINS[checks.one_of(nonlinearity, tuple(GAINS), "nonlinearity", "init.gain_for")]


def _target(tensor, where):
    """``tensor`` checked to be a floating Tensor, the thing every initializer fills."""
    checks.instance(tensor, Tensor, "tensor", where)
    return checks.float_dtype(tensor, "tensor", where)


def _gain(gain, where):
    return checks.real(gain, "gain", where, low=0)


def _fill(tensor, values):
    tensor.data[...] = values
    return tensor


def zeros(tensor):
    """Fill with 0.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor.
    """
    return _fill(_target(tensor, "init.zeros"), 0)


def constant(tensor, value):
    """Fill with ``value``.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or ``value`` not a real number.
        ValueError: when ``value`` is NaN or infinite.
    """
    return _fill(_target(tensor, "init.constant"), checks.real(value, "value", "init.constant"))


def uniform(tensor, low=0.0, high=1.0):
    """U[low, high) elementwise.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or a bound not a real number.
        ValueError: when a bound is NaN or infinite, or low > high.
    """
    _target(tensor, "init.uniform")
    low = checks.real(low, "low", "init.uniform")
    high = checks.real(high, "high", "init.uniform", low=low)
    return _fill(tensor, random.uniform(tensor.shape, low, high, tensor.dtype))


def normal(tensor, mean=0.0, std=1.0):
    """N(mean, std^2) elementwise.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or mean, std not real numbers.
        ValueError: when mean or std is NaN or infinite, or std < 0.
    """
    _target(tensor, "init.normal")
    mean = checks.real(mean, "mean", "init.normal")
    std = checks.real(std, "std", "init.normal", low=0)
    return _fill(tensor, random.normal(tensor.shape, mean, std, tensor.dtype))


def truncated_normal(tensor, mean=0.0, std=1.0, low=None, high=None):
    """N(mean, std^2) restricted to [low, high] by redrawing every value outside (rejection sampling).

    The bounds default to mean -/+ 2 std. ``std`` is the standard deviation of the parent normal, not
    corrected for the truncation (as TensorFlow's truncated_normal and torch.nn.init.trunc_normal_):
    the values' own standard deviation is smaller, std * 0.8796 for the default +-2 std bounds
    (:func:`truncated_std` gives it for any bounds). papers/000 section 4.3.2 uses bounds
    +-1/sqrt(fan_in) for the OneNow network.
    """
    low = mean - 2 * std if low is None else low
    high = mean + 2 * std if high is None else high
    if not low < high or std <= 0:
        raise ValueError(f"init.truncated_normal: expected std > 0 and low < high, got std={std}, "
                         f"low={low}, high={high}")
    values = random.normal(tensor.shape, float(mean), float(std), tensor.dtype)
    outside = (values < low) | (values > high)
    while bool(outside.any()):
        count = int(outside.sum())
        values[outside] = random.normal((count,), float(mean), float(std), tensor.dtype)
        outside = (values < low) | (values > high)
    return _fill(tensor, values)


def truncated_std(std, low, high, mean=0.0):
    """Standard deviation of N(mean, std^2) truncated to [low, high] (the analytic value)."""
    alpha, beta = (low - mean) / std, (high - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    mass = 0.5 * (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2)))
    first = (alpha * pdf(alpha) - beta * pdf(beta)) / mass
    second = ((pdf(alpha) - pdf(beta)) / mass) ** 2
    return std * math.sqrt(1 + first - second)


def xavier_uniform(tensor, gain=1.0):
    """Glorot: U[-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)).

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or ``gain`` not a real number.
        ValueError: when the tensor has fewer than 2 axes, or ``gain`` is negative, NaN or infinite.
    """
    gain = _gain(gain, "init.xavier_uniform")
    fan_in, fan_out = fans(_target(tensor, "init.xavier_uniform").shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(tensor, -bound, bound)


def xavier_normal(tensor, gain=1.0):
    """Glorot: N(0, gain^2 * 2 / (fan_in + fan_out)).

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or ``gain`` not a real number.
        ValueError: when the tensor has fewer than 2 axes, or ``gain`` is negative, NaN or infinite.
    """
    gain = _gain(gain, "init.xavier_normal")
    fan_in, fan_out = fans(_target(tensor, "init.xavier_normal").shape)
    return normal(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, mode, nonlinearity, where):
    _target(tensor, where)
    checks.one_of(mode, ("fan_in", "fan_out"), "mode", where)
    fan_in, fan_out = fans(tensor.shape)
    return gain_for(nonlinearity) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform(tensor, mode="fan_in", nonlinearity="relu"):
    """He: U[-b, b] with b = gain * sqrt(3 / fan), so the std is gain / sqrt(fan).

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor.
        ValueError: for a tensor of fewer than 2 axes, or an unknown mode or nonlinearity.
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, mode, nonlinearity, "init.kaiming_uniform")
    return uniform(tensor, -bound, bound)


def kaiming_normal(tensor, mode="fan_in", nonlinearity="relu"):
    """He: N(0, gain^2 / fan).

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor.
        ValueError: for a tensor of fewer than 2 axes, or an unknown mode or nonlinearity.
    """
    return normal(tensor, 0.0, _kaiming_std(tensor, mode, nonlinearity, "init.kaiming_normal"))


glorot_uniform, glorot_normal = xavier_uniform, xavier_normal
he_uniform, he_normal = kaiming_uniform, kaiming_normal


def orthogonal(tensor, gain=1.0):
    """A (semi-)orthogonal matrix: rows (or columns, whichever are fewer) orthonormal, times ``gain``.

    The weight is viewed as (out, in * k1 * ...); Q of the QR decomposition of a Gaussian matrix, with
    signs fixed by diag(R) so that the result is uniformly (Haar) distributed.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor or ``gain`` not a real number.
        ValueError: when the tensor has fewer than 2 axes, or ``gain`` is negative, NaN or infinite.
    """
    gain = _gain(gain, "init.orthogonal")
    if _target(tensor, "init.orthogonal").ndim < 2:
        raise ValueError(f"init.orthogonal: tensor must have at least 2 axes, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = int(numpy.prod(tensor.shape[1:]))
    gaussian = random.normal((max(rows, cols), min(rows, cols)), dtype=tensor.dtype)
    q, r = xp.linalg.qr(gaussian)
    q = q * xp.sign(xp.diagonal(r))
    q = q.T if rows < cols else q
    return _fill(tensor, (gain * q).reshape(tensor.shape).astype(tensor.dtype))
