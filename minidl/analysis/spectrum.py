"""Singular values of weight matrices and the numbers made from them [Dworakowski 2019, sections 4.2, 5.2].

Every function takes a *source*: a layer (Linear or Conv2d: its weight is used), a Tensor, or an array.
The decomposition runs where the array lives (on the GPU under CuPy), in float64 so that a small
sigma_min is not lost to float32 rounding, and only the singular values come back to the host, once, as
a float64 NumPy array in descending order.

The values come from the Gram matrix of the shorter side (several times faster than an SVD), with a
direct SVD wherever the Gram would lose precision (see :func:`_singular_values`). The condition number
of a large matrix (both sides at least ITERATIVE_MIN_SIZE, on the host) needs only the two extreme
values, which :mod:`minidl.analysis.lanczos` finds without a full decomposition.

A Linear weight is the (out, in) matrix W. A Conv2d weight (out, in, kh, kw) is reshaped to the
(out, in * kh * kw) matrix that multiplies the im2col columns (the default); with
``per_position=True`` each kernel position (i, j) gives its own (out, in) matrix W[:, :, i, j], and the
results gain two leading axes (kh, kw).

    sigma_1 >= sigma_2 >= ... >= sigma_r >= 0,   r = min(rows, columns)
    condition number  kappa = sigma_1 / sigma_r          (inf when sigma_r = 0)
    spectral norm     ||W||_2 = sigma_1
    stable rank       ||W||_F^2 / ||W||_2^2 = sum_i sigma_i^2 / sigma_1^2
    numerical rank    #{i : sigma_i > tol}
"""
import numpy

from minidl import backend
from minidl.analysis import lanczos
from minidl.autograd import Tensor
from minidl.nn.module import Module


def weight_matrix(source, per_position=False, name=None, where="weight_matrix"):
    """The weight of ``source`` as a matrix, or a stack of matrices, on its own device.

    Args:
        source: a Linear or Conv2d (any Module with a ``weight``), a Tensor, or an array of 2 axes
            (out, in) or 4 axes (out, in, kh, kw).
        per_position: for a 4-axis weight, return the (kh, kw, out, in) stack of per-position matrices
            instead of the (out, in * kh * kw) matrix.
        name: how errors name the layer (the module path, such as '3'); defaults to its class name.

    Returns:
        a backend (or host) array: (out, in), (out, in * kh * kw) or (kh, kw, out, in).

    Raises:
        TypeError for a source that is none of these; ValueError for a weight of 1 or 3 axes or one
        that holds NaN or inf (naming the layer).
    """
    label = _label(source, name)
    if isinstance(source, Module):
        if not isinstance(getattr(source, "weight", None), Tensor):
            raise TypeError(f"{where}: {label} has no weight Tensor (expected a Linear or Conv2d)")
        array = source.weight.data
    elif isinstance(source, Tensor):
        array = source.data
    elif hasattr(source, "shape") and hasattr(source, "dtype"):
        array = source
    else:
        raise TypeError(f"{where}: expected a layer, a Tensor or an array, got {type(source).__name__}")
    if array.ndim not in (2, 4) or array.dtype.kind != "f":
        raise ValueError(f"{where}: expected a floating weight of shape (out, in) or (out, in, kh, kw) "
                         f"for {label}, got shape {tuple(array.shape)} of dtype {array.dtype}")
    xm = backend.get_array_module(array)
    if not bool(xm.isfinite(array).all()):
        raise ValueError(f"{where}: the weight of {label} contains NaN or inf; its singular values "
                         f"are undefined (did training diverge?)")
    if array.ndim == 2:
        return array
    if per_position:
        return array.transpose(2, 3, 0, 1)
    return array.reshape(array.shape[0], -1)


def _label(source, name):
    """How an error names the source: the module path where known, else its class (and shape)."""
    kind = type(source).__name__
    if name is not None:
        return f"layer {name!r} ({kind})"
    if hasattr(source, "shape"):
        return f"a {kind} of shape {tuple(source.shape)}"
    return kind


def singular_values(source, per_position=False, name=None):
    """Singular values of the weight of ``source``, descending, as a float64 NumPy array.

    Returns:
        (r,) with r = min(rows, columns) of the matrix (see :func:`weight_matrix`), or (kh, kw, r)
        with ``per_position=True`` for a convolution.
    """
    matrix = weight_matrix(source, per_position, name, "singular_values")
    return _singular_values(matrix)


GRAM_CONDITION_LIMIT = 1e4


def _singular_values(matrix):
    """Singular values (descending, float64, on the host) of a matrix or a stack of matrices.

    They are the square roots of the eigenvalues of the Gram matrix of the shorter side, A A^T or
    A^T A, formed and diagonalized in float64 on the matrix's own device: several times faster than an
    SVD, which is what keeps the tracker cheap. Squaring the matrix squares its condition number, so
    sigma_min comes out with a relative error of about eps64 * kappa^2 / 2; where kappa exceeds
    GRAM_CONDITION_LIMIT (an error above ~1e-8, the float32 weights' own precision) the values are
    recomputed by a direct SVD. One copy of the values to the host either way.
    """
    xm = backend.get_array_module(matrix)
    wide = matrix.astype(numpy.float64)
    if wide.shape[-2] > wide.shape[-1]:
        wide = xm.swapaxes(wide, -1, -2)
    eigenvalues = backend.asnumpy(xm.linalg.eigvalsh(wide @ xm.swapaxes(wide, -1, -2)))
    values = numpy.sqrt(numpy.clip(eigenvalues[..., ::-1], 0.0, None))
    top, bottom = values[..., 0], values[..., -1]
    if numpy.any(bottom * GRAM_CONDITION_LIMIT < top):
        values = backend.asnumpy(xm.linalg.svd(wide, compute_uv=False))
    return numpy.asarray(values, dtype=numpy.float64)


def _condition(values):
    """sigma_max / sigma_min along the last axis; inf where sigma_min is 0 (no division warning)."""
    top, bottom = values[..., 0], values[..., -1]
    with numpy.errstate(divide="ignore", invalid="ignore"):
        kappa = numpy.where(bottom > 0, top / numpy.where(bottom > 0, bottom, 1.0), numpy.inf)
    return kappa if kappa.ndim else float(kappa)


def _stable_rank(values):
    top = values[..., 0]
    safe = numpy.where(top > 0, top, 1.0)
    ratio = numpy.where(top > 0, (values ** 2).sum(axis=-1) / safe ** 2, 0.0)
    return ratio if ratio.ndim else float(ratio)


ITERATIVE_MIN_SIZE = 512


def condition_number(source, per_position=False, name=None):
    """kappa(W) = sigma_max / sigma_min [Dworakowski 2019, section 4.2]; inf for a singular matrix.

    sigma_min is the smallest of the min(rows, columns) singular values. Returns a float, or a
    (kh, kw) array with ``per_position=True``.

    A host matrix with both sides at least ITERATIVE_MIN_SIZE takes the iterative route of
    :func:`minidl.analysis.lanczos.extreme_singular_values` (Lanczos for sigma_max, inverse iteration on
    an LU or QR factor for sigma_min): the same value as the full SVD to about 1e-12 relative (1e-6 is
    tested, with kappa up to 1e6), about 6-8x faster from 1024 x 1024 up. Smaller matrices, stacks and
    device arrays take the dense route.
    """
    matrix = weight_matrix(source, per_position, name, "condition_number")
    if matrix.ndim == 2 and min(matrix.shape) >= ITERATIVE_MIN_SIZE and \
            backend.get_array_module(matrix) is numpy:
        try:
            top, bottom, _ = lanczos.extreme_singular_values(matrix.astype(numpy.float64))
        except lanczos.NotConverged:
            return _condition(_singular_values(matrix))
        return _condition(numpy.array([top, bottom]))
    return _condition(_singular_values(matrix))


def spectral_norm(source, per_position=False, name=None):
    """||W||_2 = sigma_max, the largest singular value (a float, or (kh, kw) per position)."""
    top = singular_values(source, per_position, name)[..., 0]
    return top if top.ndim else float(top)


def stable_rank(source, per_position=False, name=None):
    """||W||_F^2 / sigma_max^2, between 1 and rank(W) (0 for a zero matrix); a float or (kh, kw)."""
    return _stable_rank(singular_values(source, per_position, name))


def numerical_rank(source, tol=None, per_position=False, name=None):
    """Number of singular values above ``tol``.

    The default tolerance is NumPy's matrix_rank rule in the weight's own precision:
    tol = sigma_max * max(rows, columns) * eps(weight dtype), so a float32 weight is judged by float32's
    eps (its values carry no more precision than that). Returns an int, or a (kh, kw) int array.
    """
    matrix = weight_matrix(source, per_position, name, "numerical_rank")
    values = _singular_values(matrix)
    if tol is None:
        tol = values[..., :1] * max(matrix.shape[-2:]) * numpy.finfo(matrix.dtype).eps
    ranks = (values > tol).sum(axis=-1)
    return ranks if ranks.ndim else int(ranks)


def spectral_summary(source, name=None):
    """One decomposition, every number the tracker records: a dict with sigma_max, sigma_min,
    condition_number, stable_rank (floats) and spectrum (the descending (r,) float64 array)."""
    values = singular_values(source, name=name)
    return {"sigma_max": float(values[0]), "sigma_min": float(values[-1]),
            "condition_number": _condition(values), "stable_rank": _stable_rank(values),
            "spectrum": values}
