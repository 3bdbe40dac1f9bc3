"""Compression by truncated SVD: rank-k approximations of layers and Linear factorizations.

[Heitmann 2019, section 3.3] (Eckart-Young-Mirsky) and [Dworakowski 2019, section 6] ("relying on the principal
singular values"). With W = U S V^T and sigma_1 >= ... >= sigma_r, the best rank-k approximation in both
the spectral and the Frobenius norm is

    W_k = sum_{i <= k} sigma_i u_i v_i^T,
    ||W - W_k||_2 = sigma_{k+1},     ||W - W_k||_F^2 = sum_{i > k} sigma_i^2.

A Linear layer y = x W^T + b with W of shape (out, in) becomes two Linears, x -> x A^T -> (.) B^T + b with
A = S_k^(1/2) V_k^T (k, in) and B = U_k S_k^(1/2) (out, k), so B A = W_k; it saves parameters when
k (in + out) < in * out. SVDs run on the weight's device in float64; results come back in its dtype.
"""
import copy

import numpy

from minidl import backend, checks, train
from minidl.analysis.spectrum import singular_values, weight_matrix
from minidl.nn import functional as F
from minidl.nn.layers import Linear, Sequential
from minidl.nn.module import Module, Parameter


def _svd(matrix):
    xm = backend.get_array_module(matrix)
    return xm.linalg.svd(matrix.astype(numpy.float64), full_matrices=False)


def low_rank(source, k):
    """W_k, the best rank-k approximation of the weight of ``source`` (Eckart-Young).

    source: a layer, Tensor or array of shape (out, in) or (out, in, kh, kw) (approximated as the
    (out, in * kh * kw) matrix) -> array of the weight's shape, dtype and device.

    Raises:
        TypeError: when ``k`` is not an integer.
        ValueError: when it lies outside [1, min(out, in)].
    """
    matrix = weight_matrix(source, where="low_rank")
    shape = source.weight.shape if isinstance(source, Module) else source.shape
    U, S, Vt = _svd(matrix)
    k = checks.integer(k, "k", "low_rank", low=1, high=len(S))
    approximation = (U[:, :k] * S[:k]) @ Vt[:k]
    return approximation.astype(matrix.dtype).reshape(shape)


def residuals(source):
    """e_k = ||W - W_k||_F for k = 0, 1, ..., r: a (r + 1,) float64 array from e_0 = ||W||_F to e_r = 0."""
    values = singular_values(source)
    tail = numpy.cumsum((values ** 2)[::-1])[::-1]  # tail[k] = sum_{i >= k} sigma_i^2 (0-based)
    return numpy.sqrt(numpy.append(tail, 0.0))


def elbow(curve):
    """Index of the elbow of a curve: the point farthest from the chord joining its first and last points,
    both axes scaled to [0, 1] (a decreasing convex curve bends most there)."""
    y = numpy.asarray(curve, dtype=numpy.float64)
    if y.ndim != 1 or len(y) < 3:
        raise ValueError(f"elbow: expected a 1-D curve of at least 3 points, got shape {y.shape}")
    x = numpy.linspace(0.0, 1.0, len(y))
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else numpy.zeros_like(y)
    dx, dy = x[-1] - x[0], y[-1] - y[0]
    distance = numpy.abs(dy * x - dx * y + x[-1] * y[0] - y[-1] * x[0]) / numpy.hypot(dx, dy)
    return int(numpy.argmax(distance))


def elbow_rank(source):
    """k at the elbow of the residual curve k -> ||W - W_k||_F over 1 <= k < r [Heitmann 2019, section 3.3].

    The curve needs at least 3 points, so the weight's shorter side must be at least 4.
    """
    curve = residuals(source)[1:-1]  # k = 1 .. r - 1
    return elbow(curve) + 1


def energy_rank(source, energy=0.9):
    """The smallest k whose W_k keeps ``energy`` of ||W||_F^2:
    sum_{i <= k} sigma_i^2 >= energy * sum_i sigma_i^2.

    Raises:
        TypeError: when ``energy`` is not a real number.
        ValueError: when it lies outside (0, 1].
    """
    energy = checks.real(energy, "energy", "energy_rank", low=0, high=1, low_open=True)
    values = singular_values(source) ** 2
    kept = numpy.cumsum(values) / values.sum()
    return int(min(numpy.searchsorted(kept, energy * (1 - 1e-12)) + 1, len(values)))


def linear_from(weight, bias=None):
    """A Linear holding ``weight`` (out, in) and ``bias`` (out,) (backend arrays, used as they are).

    No initial values are drawn, so building it leaves the seeded generator untouched.
    """
    layer = object.__new__(Linear)
    Module.__init__(layer)
    layer.out_features, layer.in_features = (int(n) for n in weight.shape)
    layer.weight = Parameter(weight)
    layer.bias = None if bias is None else Parameter(bias)
    return layer


def replace_module(model, path, module):
    """Put ``module`` at ``path`` (such as '3' or 'features.2') of ``model``, in place; the parent
    keeps the order of its children (which decides the order a Sequential runs them in)."""
    parent_path, _, name = path.rpartition(".")
    setattr(dict(model.named_modules())[parent_path], name, module)


def factorize_linear(layer, k):
    """Two Linears computing x W_k^T + b: Sequential(Linear(in, k, no bias), Linear(k, out, bias)).

    The first holds A = S_k^(1/2) V_k^T (k, in), the second B = U_k S_k^(1/2) (out, k) and the bias.

    Raises:
        TypeError: when ``layer`` is not a Linear or ``k`` not an integer.
        ValueError: when ``k`` lies outside [1, min(out, in)].
    """
    if not isinstance(layer, Linear):
        raise TypeError(f"factorize_linear: expected a Linear, got {type(layer).__name__}")
    U, S, Vt = _svd(weight_matrix(layer, where="factorize_linear"))
    k = checks.integer(k, "k", "factorize_linear", low=1, high=len(S))
    root = S[:k] ** 0.5
    dtype = layer.weight.dtype
    first = linear_from((root[:, None] * Vt[:k]).astype(dtype))
    bias = None if layer.bias is None else layer.bias.data.copy()
    second = linear_from((U[:, :k] * root).astype(dtype), bias)
    return Sequential(first, second)


def _choose_rank(layer, rule, path):
    if rule == "elbow":
        return elbow_rank(layer)
    if isinstance(rule, float):
        return energy_rank(layer, rule)
    if isinstance(rule, (int, numpy.integer)) and not isinstance(rule, bool):
        return int(rule)
    raise ValueError(f"compress: the rank of layer {path!r} must be an int, 'elbow' or an energy "
                     f"fraction (a float), got {rule!r}")


def compress(model, ranks):
    """A copy of ``model`` in which each named Linear is replaced by its rank-k factorization.

    Args:
        model: a Module (usually nn.Sequential); it is not changed.
        ranks: {module path: rule}, the rule being k (int), 'elbow' (:func:`elbow_rank`) or an energy
            fraction such as 0.9 (:func:`energy_rank`).

    Returns:
        (compressed model, {path: k chosen}); in the copy, the layer at ``path`` is a Sequential of two
        Linears (:func:`factorize_linear`), so the other layers keep their paths.
    """
    compressed = copy.deepcopy(model)
    modules = dict(compressed.named_modules())
    chosen = {}
    for path, rule in ranks.items():
        layer = modules.get(path)
        if not isinstance(layer, Linear):
            kind = "nothing" if layer is None else type(layer).__name__
            raise ValueError(f"compress: {path!r} is {kind}, expected a Linear of the model")
        chosen[path] = _choose_rank(layer, rule, path)
        replace_module(compressed, path, factorize_linear(layer, chosen[path]))
    return compressed, chosen


def count_parameters(model):
    """Number of scalar parameters of ``model``."""
    return sum(int(p.size) for p in model.parameters())


def compression_report(model, compressed, X, y, loss_fn=F.cross_entropy, batch_size=1024):
    """Accuracy (and loss) before and after, and the parameters saved, on held-out data (X, y).

    Returns a dict: loss_before, accuracy_before, loss_after, accuracy_after, parameters_before,
    parameters_after, parameters_saved, fraction_saved.
    """
    before = train.evaluate(model, loss_fn, X, y, batch_size)
    after = train.evaluate(compressed, loss_fn, X, y, batch_size)
    n_before, n_after = count_parameters(model), count_parameters(compressed)
    report = {"loss_before": before["loss"], "accuracy_before": before.get("accuracy"),
              "loss_after": after["loss"], "accuracy_after": after.get("accuracy"),
              "parameters_before": n_before, "parameters_after": n_after,
              "parameters_saved": n_before - n_after, "fraction_saved": (n_before - n_after) / n_before}
    return report
