"""Batch normalization over the channel axis, with running statistics (as torch.nn.BatchNorm1d/2d).

In training, each channel c is normalized by the mean and (biased) variance of its values in the batch,
    x_hat = (x - mean_c) / sqrt(var_c + eps),   y = gamma_c x_hat + beta_c,
and the running statistics move towards the batch's: running = (1 - momentum) running + momentum batch,
with the unbiased variance (n / (n - 1)) var_c, exactly as PyTorch; ``momentum=None`` makes them the
plain average of every batch so far (factor 1 / num_batches_tracked), as PyTorch's cumulative average.
In evaluation the running statistics are used instead and the layer is an affine map per channel. The buffers are PyTorch's, the int64
count ``num_batches_tracked`` included, so a state_dict loads strictly in either library.
"""
import numpy

from minidl import checks
from minidl.autograd import Function, Tensor
from minidl.backend import xp
from minidl.nn.module import Module, Parameter


class _BatchNormTrain(Function):
    """y = gamma x_hat + beta with batch statistics over ``axes``; the backward pass is the closed form
    dx = (gamma / std) (g - mean(g) - x_hat mean(g x_hat)), means over the reduced axes."""

    saved_inputs = (1,)  # gamma

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, gamma, beta):
        shape = _channel_shape(x.ndim)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        self.var = x.var(axis=self.axes, keepdims=True)
        self.inv_std = 1.0 / xp.sqrt(self.var + self.eps)
        self.x_hat = (x - self.mean) * self.inv_std
        self.gamma = gamma.reshape(shape)
        return self.gamma * self.x_hat + beta.reshape(shape)

    def backward(self, g):
        axes, x_hat = self.axes, self.x_hat
        grad_beta = g.sum(axis=axes)
        grad_gamma = (g * x_hat).sum(axis=axes)
        mean_g = g.mean(axis=axes, keepdims=True)
        mean_gx = (g * x_hat).mean(axis=axes, keepdims=True)
        grad_x = self.gamma * self.inv_std * (g - mean_g - x_hat * mean_gx)
        return grad_x, grad_gamma, grad_beta


def _channel_shape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


class _BatchNorm(Module):
    """The shared body of BatchNorm1d and BatchNorm2d.

    Raises:
        TypeError: for a non-integer num_features or non-real eps / momentum (NumPy scalars are
            accepted); in forward, for an input that is not a floating Tensor.
        ValueError: for num_features < 1, eps <= 0, momentum (a real or None) outside [0, 1], NaN or
            infinity; in forward, for an input of another shape, or a single value per channel in
            training.
    """
    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=numpy.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = checks.integer(num_features, "num_features", name, low=1)
        self.eps = checks.real(eps, "eps", name, low=0, low_open=True)
        self.momentum = None if momentum is None else checks.real(momentum, "momentum", name, low=0, high=1)
        self.weight = Parameter(xp.ones((num_features,), dtype=dtype))
        self.bias = Parameter(xp.zeros((num_features,), dtype=dtype))
        self.register_buffer("running_mean", xp.zeros((num_features,), dtype=dtype))
        self.register_buffer("running_var", xp.ones((num_features,), dtype=dtype))
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype=numpy.int64))  # as PyTorch's

    def forward(self, x):
        name = type(self).__name__
        expected = " or ".join({2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}[r] for r in self.ranks)
        checks.instance(x, Tensor, "input", name)
        checks.float_dtype(x, "input", name)
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input {expected} with C = {self.num_features}, got {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        if not self.training:
            shape = _channel_shape(x.ndim)
            scale = self.weight / Tensor((self.running_var + self.eps) ** 0.5)
            return (x - Tensor(self.running_mean.reshape(shape))) * scale.reshape(shape) \
                + self.bias.reshape(shape)
        count = x.size // self.num_features
        if count < 2:
            raise ValueError(f"{name}: training needs more than one value per channel, got input {x.shape}")
        function = _BatchNormTrain(axes, self.eps)
        y = function(x, self.weight, self.bias)
        unbiased = function.var.reshape(-1) * (count / (count - 1))
        self.num_batches_tracked += 1  # in place: a 0-d array stays an array
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * function.mean.reshape(-1)
        self.running_var = (1 - m) * self.running_var + m * unbiased
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""
    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C over N, H and W."""
    ranks = (4,)
