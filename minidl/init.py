"""Weight initializers. Each fills a Tensor in place from the seeded backend generator, in its own dtype.

Fans follow PyTorch: for a weight of shape (out, in, k1, k2, ...), fan_in = in * k1 * k2 * ... and
fan_out = out * k1 * k2 * ...  Gains: 1 for linear, sqrt(2) for ReLU.

Every initializer takes a floating Tensor and finite hyperparameters: a non-Tensor or non-floating
target raises TypeError, a NaN, infinite or out-of-range hyperparameter ValueError (see each ``Raises:``).
"""
import math

import numpy

from minidl import checks, random
from minidl.autograd import Tensor, bump_version
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
    bump_version(tensor)
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
    """N(mean, std^2) restricted to [low, high], sampled exactly (by the inverse CDF: any bounds, however
    far in a tail, and never a loop; see :func:`minidl.random.truncated_normal`).

    The bounds default to mean -/+ 2 std. PyTorch's ``torch.nn.init.trunc_normal_`` defaults to the
    absolute bounds -2 and 2 instead: with std = 0.02, minidl truncates at +-0.04 and its values have a
    standard deviation of 0.0176, while PyTorch's bounds lie 100 std away and its values keep 0.0200.
    Pass ``low=-2, high=2`` for PyTorch's. ``std`` is the standard deviation of the parent normal, not
    corrected for the truncation (as TensorFlow's truncated_normal and PyTorch's trunc_normal_): the
    values' own standard deviation is smaller, std * 0.8796 for the default +-2 std bounds
    (:func:`truncated_std` gives it for any bounds). [Dworakowski 2019, section 4.3.2] uses bounds
    +-1/sqrt(fan_in) for the OneNow network.

    Raises:
        TypeError: when ``tensor`` is not a floating Tensor, or mean, std, low or high is not a real number.
        ValueError: when one is not finite, std <= 0, low >= high, or (low - mean) / std or
            (high - mean) / std overflows.
    """
    tensor = _target(tensor, "init.truncated_normal")
    mean, std, low, high = _truncation("init.truncated_normal", mean, std, low, high)
    return _fill(tensor, random.truncated_normal(tensor.shape, mean, std, low, high, tensor.dtype))


def _truncation(where, mean, std, low, high):
    """(mean, std, low, high) as floats, with the bounds defaulting to mean -/+ 2 std, checked."""
    mean, std = checks.real(mean, "mean", where), checks.real(std, "std", where)
    low = mean - 2 * std if low is None else checks.real(low, "low", where)
    high = mean + 2 * std if high is None else checks.real(high, "high", where)
    if not low < high or std <= 0:
        raise ValueError(f"{where}: expected std > 0 and low < high, got std={std}, low={low}, high={high}")
    if not math.isfinite((low - mean) / std) or not math.isfinite((high - mean) / std):
        raise ValueError(f"{where}: low and high must lie a finite number of std from the mean, got "
                         f"mean={mean}, std={std}, low={low}, high={high}")
    return mean, std, low, high


def truncated_std(std, low, high, mean=0.0):
    """Standard deviation of N(mean, std^2) truncated to [low, high], to about 1e-13 relative.

    Computed by adaptive quadrature of the density around its mode, rather than by the closed form
    sqrt(1 + (a phi(a) - b phi(b)) / Z - ((phi(a) - phi(b)) / Z)^2), which cancels catastrophically
    in the tails (bounds [7, 8]) and for narrow intervals, and underflows beyond about 37 std.

    Raises:
        TypeError: when an argument is not a real number.
        ValueError: when one is not finite, std <= 0, low >= high, or (low - mean) / std or
            (high - mean) / std overflows.
    """
    from scipy import integrate  # imported here: it would double the time of ``import minidl``

    mean, std, low, high = _truncation("init.truncated_std", mean, std, low, high)
    a, b = (low - mean) / std, (high - mean) / std
    mode = min(max(0.0, a), b)
    # the density relative to its mode, in s = z - mode; it is below e^-40 where s (s + 2 mode) > 80,
    # outside the roots -mode -/+ sqrt(mode^2 + 80), written so that neither overflows nor cancels
    far = abs(mode) + math.hypot(mode, math.sqrt(80))
    near = 80 / far
    lo, hi = (max(a - mode, -far), min(b - mode, near)) if mode >= 0 else \
        (max(a - mode, -near), min(b - mode, far))
    # integrated in t = s / width, the density's width near its mode (1, or 1 / |mode| in a far tail),
    # so that the moments neither underflow nor leave quadrature a needle to find
    width = 1.0 / max(1.0, abs(mode))
    density = lambda t: math.exp(-width * t * (width * t + 2 * mode) / 2)  # noqa: E731
    lo, hi = lo / width, hi / width

    def integral(f, absolute=0.0):
        return integrate.quad(f, lo, hi, epsabs=absolute, epsrel=1e-13, limit=200)[0]

    mass = integral(density)
    # an error d in the mean adds d^2 to the variance: 1e-10 of the interval is far below 1e-13
    centre = integral(lambda t: t * density(t), 1e-10 * (hi - lo) * mass) / mass
    return std * width * math.sqrt(integral(lambda t: (t - centre) ** 2 * density(t)) / mass)


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
    # a float16 weight gets its QR in float32 (LAPACK has no float16), then is rounded
    gaussian = random.normal((max(rows, cols), min(rows, cols)), dtype=random.drawn_in(tensor.dtype))
    q, r = xp.linalg.qr(gaussian)
    q = q * xp.sign(xp.diagonal(r))
    q = q.T if rows < cols else q
    return _fill(tensor, (gain * q).reshape(tensor.shape).astype(tensor.dtype))
