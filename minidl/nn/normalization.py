"""Batch normalization over the channel axis, with running statistics (as torch.nn.BatchNorm1d/2d).

In training, each channel c is normalized by the mean and (biased) variance of its values in the batch,
    x_hat = (x - mean_c) / sqrt(var_c + eps),   y = gamma_c x_hat + beta_c,
and the running statistics move towards the batch's: running = (1 - momentum) running + momentum batch,
with the unbiased variance (n / (n - 1)) var_c, exactly as PyTorch. In evaluation the running statistics
are used instead and the layer is an affine map per channel. The buffers are PyTorch's, the int64
count ``num_batches_tracked`` included, so a state_dict loads strictly in either library.
"""
import numpy

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
    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=numpy.float32):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive integer, got {num_features!r}")
        if not 0 <= momentum <= 1 or eps <= 0:
            raise ValueError(f"{name}: expected 0 <= momentum <= 1 and eps > 0, got momentum="
                             f"{momentum}, eps={eps}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.weight = Parameter(xp.ones((num_features,), dtype=dtype))
        self.bias = Parameter(xp.zeros((num_features,), dtype=dtype))
        self.register_buffer("running_mean", xp.zeros((num_features,), dtype=dtype))
        self.register_buffer("running_var", xp.ones((num_features,), dtype=dtype))
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype=numpy.int64))  # as PyTorch's

    def forward(self, x):
        name = type(self).__name__
        expected = " or ".join({2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}[r] for r in self.ranks)
        if not isinstance(x, Tensor) or x.ndim not in self.ranks or x.shape[1] != self.num_features:
            got = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: expected input {expected} with C = {self.num_features}, got {got}")
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
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * function.mean.reshape(-1)
        self.running_var = (1 - m) * self.running_var + m * unbiased
        self.num_batches_tracked += 1  # in place: a 0-d array stays an array
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""
    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C over N, H and W."""
    ranks = (4,)
