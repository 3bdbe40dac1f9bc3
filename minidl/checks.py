"""Argument checks shared by every public function: one place, one wording.

Each check takes the value, its name and ``where`` (the public function or layer that was called) and
either returns the value in its canonical Python type or raises a ValueError or TypeError of the form

    "<where>: <name> must be <what was expected>, got <what came>"

Python numbers and NumPy scalars are accepted alike wherever a number is expected; ``bool`` is never
taken for a number.
"""
import math
import numbers

import numpy

from minidl import backend


def _describe(value):
    if isinstance(value, (numpy.ndarray, numpy.generic)):
        return f"{value!r} ({value.dtype})"
    return f"{value!r} ({type(value).__name__})"


def real(value, name, where, *, low=None, high=None, low_open=False, high_open=False, finite=True):
    """``value`` as a Python float, checked to be a real number within the given bounds.

    Args:
        low, high: optional bounds; inclusive unless ``low_open`` / ``high_open``.
        finite: when True (the default) NaN and infinities are refused.

    Raises:
        TypeError: when ``value`` is not a real number (bool, str, array, complex, None ...).
        ValueError: when it is NaN or infinite (with ``finite``) or outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {_describe(value)}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        left = "" if low is None else ("(" if low_open else "[") + f"{low}"
        right = "" if high is None else f"{high}" + (")" if high_open else "]")
        interval = (f"in {left}, {right}" if low is not None and high is not None else
                    f"{'>' if low_open else '>='} {low}" if low is not None else
                    f"{'<' if high_open else '<='} {high}")
        raise ValueError(f"{where}: {name} must be {interval}, got {value!r}")
    return number


def integer(value, name, where, *, low=None, high=None):
    """``value`` as a Python int, checked to be an integer in [low, high].

    Raises:
        TypeError: when ``value`` is not an integer (bool and floats included, even 3.0).
        ValueError: when it lies outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {_describe(value)}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = (f"in [{low}, {high}]" if low is not None and high is not None else
                  f">= {low}" if low is not None else f"<= {high}")
        raise ValueError(f"{where}: {name} must be an integer {bounds}, got {value!r}")
    return number


def one_of(value, choices, name, where):
    """``value`` itself, checked to be one of ``choices``.

    Raises:
        ValueError: when it is not.
    """
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {', '.join(repr(c) for c in choices)}, "
                         f"got {value!r}")
    return value


def pair(value, name, where, *, low=1):
    """An int or a pair of ints (as for kernel_size, stride, padding) as a tuple of two ints >= low.

    Raises:
        TypeError: when ``value`` is neither an int nor a pair of ints.
        ValueError: when an entry is below ``low``.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
        return tuple(integer(v, name, where, low=low) for v in value)
    number = integer(value, name, where, low=low)
    return number, number


def float_dtype(array, name, where):
    """``array`` itself, checked to hold floating-point numbers (float layers take float inputs).

    ``array`` is anything with a ``dtype``: a NumPy or CuPy array, a Tensor.

    Raises:
        TypeError: when its dtype is integer, bool, complex, object or anything else not floating, or
            when it has no dtype at all (a list, a number).
    """
    dtype = getattr(array, "dtype", None)
    if not isinstance(dtype, numpy.dtype):
        raise TypeError(f"{where}: {name} must be a floating-point array or Tensor, got {type(array).__name__}")
    if dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be a floating-point array, got dtype {dtype}; "
                        f"convert it explicitly, e.g. x.astype(numpy.float32)")
    return array


def flag(value, name, where):
    """``value`` as a Python bool, checked to be a bool (Python's or NumPy's).

    Raises:
        TypeError: when it is anything else (0, 1, "yes", None ...).
    """
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {_describe(value)}")
    return bool(value)
def instance(value, kind, name, where):
    """``value`` itself, checked to be an instance of ``kind`` (a class or a tuple of classes).

    Raises:
        TypeError: when it is not.
    """
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise TypeError(f"{where}: {name} must be a {names}, got {_describe(value)}")
    return value


def finite(array, name, where):
    """``array`` itself, checked to hold no NaN or infinity (data, targets, tables; read on the host).

    Raises:
        ValueError: naming how many entries are not finite and the index of the first.
    """
    bad = ~numpy.isfinite(backend.asnumpy(array))
    if bad.any():
        first = tuple(int(i) for i in numpy.argwhere(bad)[0])
        raise ValueError(f"{where}: {name} must hold finite numbers, got {int(bad.sum())} NaN or infinite "
                         f"entries, the first at index {first[0] if len(first) == 1 else first}")
    return array
