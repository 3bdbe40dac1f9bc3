"""Regularizers on singular values: a conditioning penalty, SVD layers, singular value bounding.

- Conditioning as a loss term [Dworakowski 2019, section 6]: lambda * sum_layers (log sigma_max - log sigma_min),
  differentiated through the SVD. For W = U diag(sigma) V^T with distinct singular values,
  d sigma_i / d W = u_i v_i^T, so the vector-Jacobian product of W -> sigma is U diag(g) V^T
  (:class:`SingularValues`).
- SVD layers ([Wang 2016, section 5], eq. 13): W = U diag(S) V is stored as three Parameters and
  regularized by -lambda * sum log S; U and V drift from orthonormal under gradient steps and are
  re-orthonormalized periodically by an SVD of U diag(S) V (:class:`SVDLinear`, :class:`Reorthonormalize`).
- Singular value bounding (Jia et al. 2016, cited as reference 6 of [Dworakowski 2019]): every k steps each
  singular value is clipped into [1 / (1 + eps), 1 + eps], so kappa(W) <= (1 + eps)^2; it is a
  post-step hook of the optimizer (:class:`SingularValueBounding`).

A penalty enters training through the loss: ``fit(model, lambda out, y: F.cross_entropy(out, y) +
conditioning_penalty(model, 1e-3), ...)``.
"""
import numpy

from minidl import backend, checks
from minidl.autograd import Function, Tensor, bump_version
from minidl.nn.layers import Conv2d, Linear, check_input
from minidl.nn.module import Module, Parameter


class SingularValues(Function):
    """W (m, n) -> its r = min(m, n) singular values, descending, in W's dtype (differentiable).

    backward: dL/dW = U diag(g) V^T (thin SVD), exact where the singular values are distinct and, for
    a rectangular W, nonzero.
    """

    def forward(self, W):
        xm = backend.get_array_module(W)
        self.U, S, self.Vt = xm.linalg.svd(W, full_matrices=False)
        return S

    def backward(self, g):
        return (self.U * g) @ self.Vt


def differentiable_singular_values(weight):
    """Differentiable singular values of a weight Tensor: (out, in) or (out, in, kh, kw) reshaped to
    (out, in * kh * kw) -> (r,) Tensor, descending."""
    if not isinstance(weight, Tensor) or weight.ndim not in (2, 4):
        got = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"differentiable_singular_values: expected a weight Tensor of shape (out, in) or "
                         f"(out, in, kh, kw), got {got}")
    matrix = weight if weight.ndim == 2 else weight.reshape(weight.shape[0], -1)
    return SingularValues()(matrix)


def _layers(model, layers, where):
    if layers is None:
        found = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
    else:
        modules = dict(model.named_modules())
        found = []
        for entry in layers:
            layer = entry if isinstance(entry, Module) else modules.get(entry)
            if not isinstance(layer, (Linear, Conv2d)):
                raise ValueError(f"{where}: {entry!r} is not a Linear or Conv2d of the model")
            found.append(layer)
    if not found:
        raise ValueError(f"{where}: no Linear or Conv2d layer to regularize")
    return found


def conditioning_penalty(model, strength, layers=None):
    """strength * sum over layers of (log sigma_max(W) - log sigma_min(W)) = strength * sum log kappa(W).

    Args:
        model: the Module whose layers are penalized.
        strength: lambda >= 0.
        layers: module paths or layers (Linear / Conv2d); None for all of them.

    Returns:
        a scalar Tensor in the weights' dtype, differentiable with respect to the weights.

    Raises:
        TypeError: when ``strength`` is not a real number.
        ValueError: when it is negative, NaN or infinite, or no layer is found.
    """
    strength = checks.real(strength, "strength", "conditioning_penalty", low=0)
    total = None
    for layer in _layers(model, layers, "conditioning_penalty"):
        values = differentiable_singular_values(layer.weight)
        term = values[0].log() - values[-1].log()
        total = term if total is None else total + term
    return total * strength


class SVDLinear(Module):
    """A Linear layer stored as its SVD: W = U diag(S) V, y = x V^T diag(S) U^T + b [Wang 2016, sec. 5].

    Parameters: U (out, r), S (r,), V (r, in) with r = min(in, out), and bias (out,). Initialized by
    the SVD of a Linear's default weight U[-1/sqrt(in), 1/sqrt(in)]. Input (N, in) -> (N, out).
    S must stay positive for :meth:`penalty`; :meth:`orthonormalize` restores U, V orthonormal and S >= 0.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=numpy.float32):
        super().__init__()
        dense = Linear(in_features, out_features, bias, dtype)
        self._assign(dense.weight.data, None if dense.bias is None else dense.bias.data)

    @classmethod
    def from_linear(cls, linear):
        """The SVDLinear computing the same map as ``linear`` (its weights are copied; nothing is drawn)."""
        if not isinstance(linear, Linear):
            raise TypeError(f"SVDLinear.from_linear: expected a Linear, got {type(linear).__name__}")
        layer = cls.__new__(cls)
        Module.__init__(layer)
        layer._assign(linear.weight.data, None if linear.bias is None else linear.bias.data.copy())
        return layer

    def _assign(self, weight, bias):
        self.out_features, self.in_features = weight.shape
        U, S, V = _svd(weight)
        self.U, self.S, self.V = Parameter(U), Parameter(S), Parameter(V)
        self.bias = None if bias is None else Parameter(bias)

    @property
    def weight(self):
        """The merged weight U diag(S) V, a new (out, in) Tensor outside the graph."""
        return Tensor((self.U.data * self.S.data) @ self.V.data)

    def forward(self, x):
        check_input("SVDLinear", x, 2, f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise ValueError(f"SVDLinear: expected input of shape (N, {self.in_features}), got {x.shape}")
        y = ((x @ self.V.T) * self.S) @ self.U.T
        return y if self.bias is None else y + self.bias

    def penalty(self, strength):
        """-strength * sum_i log S_i ([Wang 2016, eq. 13] on the layer's own singular values)."""
        return self.S.log().sum() * (-strength)

    def orthonormalize(self):
        """Replace U, S, V in place by the SVD of U diag(S) V (the same W; U, V orthonormal, S >= 0)."""
        U, S, V = _svd((self.U.data * self.S.data) @ self.V.data)
        self.U.data[...], self.S.data[...], self.V.data[...] = U, S, V
        bump_version(self.U, self.S, self.V)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


def _svd(weight):
    """Thin SVD (U, S, V^T) computed in float64 on the weight's device, returned in its dtype."""
    xm = backend.get_array_module(weight)
    U, S, Vt = xm.linalg.svd(weight.astype(numpy.float64), full_matrices=False)
    return U.astype(weight.dtype), S.astype(weight.dtype), Vt.astype(weight.dtype)


class Reorthonormalize:
    """A fit callback that re-orthonormalizes every SVDLinear of the model every ``every`` epochs
    ([Wang 2016, section 5] does it once an epoch).

    Raises:
        TypeError: when ``every`` is not an integer.
        ValueError: when it is below 1.
    """

    def __init__(self, every=1):
        every = checks.integer(every, "every", "Reorthonormalize", low=1)
        self.every = every

    def on_epoch_end(self, epoch, model, logs):
        if epoch % self.every == 0:
            for module in model.modules():
                if isinstance(module, SVDLinear):
                    module.orthonormalize()


def bound_singular_values(layer, eps):
    """Clip the singular values of a Linear or Conv2d weight into [1 / (1 + eps), 1 + eps], in place.

    The singular vectors are kept: W <- U clip(S) V^T (a conv weight as its (out, in * kh * kw) matrix).

    Raises:
        TypeError: when ``layer`` is not a Linear or Conv2d, or ``eps`` not a real number.
        ValueError: when ``eps`` is negative, NaN or infinite.
    """
    if not isinstance(layer, (Linear, Conv2d)):
        raise TypeError(f"bound_singular_values: expected a Linear or Conv2d, got {type(layer).__name__}")
    eps = checks.real(eps, "eps", "bound_singular_values", low=0)
    weight = layer.weight.data
    U, S, Vt = _svd(weight.reshape(weight.shape[0], -1))
    S = S.clip(1.0 / (1.0 + eps), 1.0 + eps)
    weight[...] = ((U * S) @ Vt).reshape(weight.shape)
    bump_version(layer.weight)


class SingularValueBounding:
    """A post-step optimizer hook that bounds singular values every ``every`` steps (Jia et al. 2016).

    Register it on the optimizer: ``optimizer.register_step_post_hook(SingularValueBounding(model))``;
    after every ``every``-th step it runs :func:`bound_singular_values` on each layer.

    Args:
        model: a Module whose Linear and Conv2d layers are bounded, or a list of such layers.
        eps: the band half-width; every singular value ends up in [1 / (1 + eps), 1 + eps].
        every: bound after every ``every`` optimizer steps.

    Attributes:
        steps: the optimizer steps seen so far.

    Raises:
        TypeError: when eps or every is not a number (NumPy scalars are numbers).
        ValueError: when every < 1, eps < 0, or there is no Linear or Conv2d layer to bound.
    """

    def __init__(self, model, eps=0.05, every=1):
        self.every = checks.integer(every, "every", "SingularValueBounding", low=1)
        self.eps = checks.real(eps, "eps", "SingularValueBounding", low=0)
        if isinstance(model, Module):
            self.layers = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
        else:
            self.layers = list(model)
        if not self.layers or not all(isinstance(m, (Linear, Conv2d)) for m in self.layers):
            raise ValueError("SingularValueBounding: expected a model with Linear or Conv2d layers, or a "
                             "list of them")
        self.steps = 0

    def __call__(self, optimizer, args, kwargs):
        self.steps += 1
        if self.steps % self.every == 0:
            for layer in self.layers:
                bound_singular_values(layer, self.eps)
