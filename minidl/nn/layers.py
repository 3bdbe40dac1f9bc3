"""Layers: Linear, Conv2d, pooling, ReLU, Dropout, Flatten, GradientPerturbation, Sequential.

Every layer checks the rank and shape of its input and names itself, the expected and the received
shape in the error. Default initializations match PyTorch's: weights and biases of Linear and Conv2d
are drawn from U[-1/sqrt(fan_in), 1/sqrt(fan_in)].
"""
import math

import numpy

from minidl import checks, init
from minidl.autograd import Tensor
from minidl.backend import xp
from minidl.nn import functional as F
from minidl.nn.module import Module, Parameter


def check_input(layer, x, rank, expected):
    """Raise if ``x`` is not a floating Tensor of ``rank`` axes; ``expected`` describes the shape in words.

    Raises:
        TypeError: when ``x`` is not a Tensor, or its dtype is not floating (float layers take float
            inputs: an integer, bool or object input is refused, never silently converted).
        ValueError: when it has another number of axes.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor of shape {expected}, got {type(x).__name__}")
    checks.float_dtype(x, "input", layer)
    if x.ndim != rank:
        raise ValueError(f"{layer}: expected input of shape {expected}, got {x.shape}")


class Linear(Module):
    """y = x W^T + b.  Input (N, in_features) -> output (N, out_features); weight (out, in).

    Raises:
        TypeError: for a non-integer feature count; in forward, for an input that is not a floating
            Tensor of the weight's dtype.
        ValueError: for a feature count below 1; in forward, for an input of another shape.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=numpy.float32):
        super().__init__()
        self.in_features = checks.integer(in_features, "in_features", "Linear", low=1)
        self.out_features = checks.integer(out_features, "out_features", "Linear", low=1)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=dtype))
        init.uniform(self.weight, -bound, bound)
        self.bias = None
        if bias:
            self.bias = Parameter(xp.empty((self.out_features,), dtype=dtype))
            init.uniform(self.bias, -bound, bound)

    def forward(self, x):
        check_input("Linear", x, 2, f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise ValueError(f"Linear: expected input of shape (N, {self.in_features}), got {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution on NCHW input; weight (out_channels, in_channels, kh, kw).

    Input (N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = floor((H + 2 p - kh) / s) + 1.

    ``max_bytes`` bounds the im2col matrix of one call (see :func:`minidl.nn.functional.conv2d`); a
    larger batch raises a ValueError naming the layer, the bytes needed and the limit.

    Raises:
        TypeError: for non-integer sizes; in forward, for an input that is not a floating Tensor.
        ValueError: for sizes out of range; in forward, for an input of another shape, or an im2col
            matrix above ``max_bytes``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=numpy.float32, max_bytes=None):
        super().__init__()
        self.max_bytes = None if max_bytes is None else checks.integer(max_bytes, "max_bytes", "Conv2d",
                                                                        low=1)
        self.in_channels = checks.integer(in_channels, "in_channels", "Conv2d", low=1)
        self.out_channels = checks.integer(out_channels, "out_channels", "Conv2d", low=1)
        self.kernel_size = checks.pair(kernel_size, "kernel_size", "Conv2d", low=1)
        self.stride = checks.pair(stride, "stride", "Conv2d", low=1)
        self.padding = checks.pair(padding, "padding", "Conv2d", low=0)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        bound = 1.0 / math.sqrt(init.fans(shape)[0])
        self.weight = Parameter(xp.empty(shape, dtype=dtype))
        init.uniform(self.weight, -bound, bound)
        self.bias = None
        if bias:
            self.bias = Parameter(xp.empty((self.out_channels,), dtype=dtype))
            init.uniform(self.bias, -bound, bound)

    def forward(self, x):
        expected = f"(N, {self.in_channels}, H, W)"
        check_input("Conv2d", x, 4, expected)
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[1] != self.in_channels or x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(f"Conv2d: expected input of shape {expected} with padded H, W at least "
                             f"the kernel {self.kernel_size}, got {x.shape}")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.max_bytes,
                        where=f"Conv2d({self.extra_repr()})")

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
               f"stride={self.stride}, padding={self.padding}"


class _Pool2d(Module):
    function = None

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = checks.pair(kernel_size, "kernel_size", name, low=1)
        self.stride = self.kernel_size if stride is None else checks.pair(stride, "stride", name, low=1)

    def forward(self, x):
        name = type(self).__name__
        check_input(name, x, 4, "(N, C, H, W)")
        if x.shape[2] < self.kernel_size[0] or x.shape[3] < self.kernel_size[1]:
            raise ValueError(f"{name}: expected input (N, C, H, W) with H, W at least the kernel "
                             f"{self.kernel_size}, got {x.shape}")
        return type(self).function(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Maximum over KH x KW windows; stride defaults to the kernel size. (N,C,H,W) -> (N,C,OH,OW)."""
    function = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean over KH x KW windows; stride defaults to the kernel size. (N,C,H,W) -> (N,C,OH,OW)."""
    function = staticmethod(F.avg_pool2d)


class ReLU(Module):
    """max(x, 0) elementwise, any shape."""

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"ReLU: expected a Tensor, got {type(x).__name__}")
        return F.relu(x)


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def forward(self, x):
        if not isinstance(x, Tensor) or x.ndim < 2:
            got = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"Flatten: expected a Tensor of shape (N, ...) with at least 2 axes, "
                             f"got {got}")
        return F.flatten(x)


class Dropout(Module):
    """Inverted dropout with drop probability p in [0, 1), active only in training mode
    [Dworakowski 2019, eq. 9-11].

    Raises:
        TypeError: when ``p`` is not a real number (Python or NumPy).
        ValueError: when it lies outside [0, 1).
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = checks.real(p, "p", "Dropout", low=0, high=1, high_open=True)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"Dropout: expected a Tensor, got {type(x).__name__}")
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class GradientPerturbation(Module):
    """Identity forward; in training, the backward pass adds N(0, (scale std(grad))^2) noise.

    [Dworakowski 2019, section 5.1.3, eq. 21]. In evaluation mode it is the identity both ways.

    Raises:
        TypeError: when ``scale`` is not a real number (Python or NumPy).
        ValueError: when it is negative, NaN or infinite.
    """

    def __init__(self, scale=3.0):
        super().__init__()
        self.scale = checks.real(scale, "scale", "GradientPerturbation", low=0)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"GradientPerturbation: expected a Tensor, got {type(x).__name__}")
        return F.gradient_perturbation(x, self.scale, self.training)

    def extra_repr(self):
        return f"scale={self.scale}"


class Sequential(Module):
    """Modules applied in order; indexable (an int gives a module, a slice a Sequential), iterable."""

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {index} is a {type(module).__name__}, "
                                f"not a Module")
            setattr(self, str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        index = checks.integer(index, "index", "Sequential")
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential: index {index} is out of range for {len(modules)} modules")
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self
