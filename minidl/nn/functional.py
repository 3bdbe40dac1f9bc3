"""Differentiable neural-network operations on Tensors (shapes follow PyTorch: NCHW images).

Each operation is a :class:`~minidl.autograd.Function` with a hand-written backward pass, so that one
layer costs one node in the graph. Shape checks with a layer's name live in the layers (``minidl.nn``);
these functions check what they alone can know (dtypes, targets, probabilities, hyperparameters).
"""
from minidl import backend, checks, random
from minidl.autograd import Function, Tensor
from minidl.backend import xp
from minidl.nn import im2col


# --------------------------------------------------------------------- activations
class _ReLU(Function):
    def forward(self, x):
        y = xp.maximum(x, 0)
        self.mask = y != 0  # True where x > 0 and where x is NaN
        return y

    def backward(self, g):
        return g * self.mask


def relu(x):
    """max(x, 0) elementwise, as PyTorch: relu(-inf) = 0 and NaN stays NaN. The gradient is 0 where
    x <= 0 (at 0 included) and passes through elsewhere, NaN included."""
    return _ReLU()(x)


class _Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        shifted = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = shifted / shifted.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, g):
        y = self.y
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x_i) / sum_j exp(x_j) along ``axis``, computed after subtracting the maximum.

    Raises:
        TypeError: when ``x`` is not floating or ``axis`` not an integer.
        ValueError: when ``axis`` is not an axis of ``x``.
    """
    return _Softmax(_axis(x, axis, "softmax"))(x)


def _axis(x, axis, where):
    """``axis`` checked to be an axis of the floating Tensor or array ``x``."""
    checks.float_dtype(x, "x", where)
    return checks.integer(axis, "axis", where, low=-max(x.ndim, 1), high=max(x.ndim, 1) - 1)


class _LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, g):
        return g - xp.exp(self.y) * g.sum(axis=self.axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x_i - log sum_j exp(x_j) along ``axis`` (log-sum-exp shifted by the maximum: no overflow).

    Raises:
        TypeError: when ``x`` is not floating or ``axis`` not an integer.
        ValueError: when ``axis`` is not an axis of ``x``.
    """
    return _LogSoftmax(_axis(x, axis, "log_softmax"))(x)


# --------------------------------------------------------------------- linear maps
class _Linear(Function):
    saved_inputs = (0, 1)

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = x @ weight.T
        return y if bias is None else y + bias

    def backward(self, g):
        x2 = self.x.reshape(-1, self.x.shape[-1])
        g2 = g.reshape(-1, g.shape[-1])
        grad_x = g @ self.weight if self.inputs[0].requires_grad else None  # none for the data
        grads = (grad_x, g2.T @ x2)
        return grads + (g2.sum(axis=0),) if len(self.inputs) == 3 else grads


def linear(x, weight, bias=None):
    """y = x W^T + b.  x: (..., in), weight: (out, in), bias: (out,) -> y: (..., out).

    Raises:
        TypeError: when ``x`` or ``weight`` is not floating (float layers take float inputs), or when
            their float dtypes differ.
    """
    checks.float_dtype(x, "x", "linear")
    checks.float_dtype(weight, "weight", "linear")
    return _Linear()(x, weight) if bias is None else _Linear()(x, weight, bias)


class _Conv2d(Function):
    """Convolution as one GEMM: W (O, C*KH*KW) @ columns (C*KH*KW, N*OH*OW)."""

    saved_inputs = (0, 1)  # the columns may be a view of the input

    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        o, c, kh, kw = weight.shape
        n = x.shape[0]
        padded = im2col.pad(x, self.padding)
        win = im2col.windows(padded, (kh, kw), self.stride)  # (N, C, OH, OW, KH, KW) view
        oh, ow = win.shape[2], win.shape[3]
        self.columns = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)
        self.weight, self.padded_shape, self.out_size = weight, padded.shape, (oh, ow)
        y = (weight.reshape(o, -1) @ self.columns).reshape(o, n, oh, ow)
        if bias is not None:
            y += bias[:, None, None, None]
        return y.transpose(1, 0, 2, 3)

    def backward(self, g):
        o = self.weight.shape[0]
        g_rows = g.transpose(1, 0, 2, 3).reshape(o, -1)  # (O, N*OH*OW)
        grad_w = (self.columns @ g_rows.T).T.reshape(self.weight.shape)  # BLAS-friendly order
        grads = (self._grad_input(g_rows) if self.inputs[0].requires_grad else None, grad_w)
        return grads + (g_rows.sum(axis=1),) if len(self.inputs) == 3 else grads

    def _grad_input(self, g_rows):
        """col2im of W^T g: the gradient of the input (N, C, H, W), skipped for the data itself.

        Rows of W^T are ordered (KH, KW, C) and the image is accumulated with C before N in memory, so
        each of the KH*KW slice-adds reads and writes in one order.
        """
        o, c, kh, kw = self.weight.shape
        n, _, hp, wp = self.padded_shape
        oh, ow = self.out_size
        weight_rows = self.weight.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)
        grad_columns = (weight_rows @ g_rows).reshape(kh, kw, c, n, oh, ow)
        grad_padded = xp.zeros((c, n, hp, wp), dtype=g_rows.dtype).transpose(1, 0, 2, 3)
        im2col.add_windows(grad_padded, grad_columns.transpose(0, 1, 3, 2, 4, 5), self.stride)
        return im2col.unpad(grad_padded, self.padding)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    x: (N, C, H, W), weight: (O, C, KH, KW), bias: (O,) -> (N, O, OH, OW) with
    OH = floor((H + 2 padding - KH) / stride) + 1 (and likewise OW).

    Raises:
        TypeError: when ``x`` or ``weight`` is not floating, or their float dtypes differ.
    """
    checks.float_dtype(x, "x", "conv2d")
    checks.float_dtype(weight, "weight", "conv2d")
    stride = im2col.pair(stride, "stride", "conv2d")
    padding = im2col.pair(padding, "padding", "conv2d")
    function = _Conv2d(stride, padding)
    return function(x, weight) if bias is None else function(x, weight, bias)


# --------------------------------------------------------------------- pooling
class _MaxPool2d(Function):
    """Elementwise maxima of the KH*KW strided views (no copy of the windows). As PyTorch's, the index of
    each window is its first maximum, or its last NaN (the output is then NaN, and the gradient goes
    there)."""

    def __init__(self, kernel, stride):
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel, self.stride
        self.out_size = ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
        views = [view for _, _, view in im2col.window_slices(x, self.kernel, self.stride, self.out_size)]
        y = views[0].copy()
        for view in views[1:]:
            xp.maximum(y, view, out=y)
        # the first maximum's position = the number of leading views that miss the maximum
        self.index = xp.zeros(y.shape, dtype=xp.min_scalar_type(len(views)))
        found = views[0] == y
        for view in views[1:]:
            self.index += ~found
            found |= view == y
        nan_windows = ~found  # no value equals a NaN maximum: its index is the window's last NaN
        for k, view in enumerate(views):
            xp.copyto(self.index, k, where=nan_windows & xp.isnan(view))
        self.x_shape = x.shape
        return y

    def backward(self, g):
        grad = xp.zeros(self.x_shape, dtype=g.dtype)
        views = im2col.window_slices(grad, self.kernel, self.stride, self.out_size)
        for k, (_, _, view) in enumerate(views):
            view += (self.index == k) * g
        return grad


def max_pool2d_with_indices(x, kernel_size, stride=None):
    """Max pooling that also returns, per window, the flat position (kh * KW + kw) it selected.

    x: (N, C, H, W) -> (y: (N, C, OH, OW), index: backend unsigned int array (N, C, OH, OW)).
    """
    kernel = im2col.pair(kernel_size, "kernel_size", "max_pool2d")
    stride = kernel if stride is None else im2col.pair(stride, "stride", "max_pool2d")
    function = _MaxPool2d(kernel, stride)
    y = function(x)
    return y, function.index


def max_pool2d(x, kernel_size, stride=None):
    """Maximum over each KH x KW window (stride defaults to the kernel size). (N,C,H,W) -> (N,C,OH,OW)."""
    return max_pool2d_with_indices(x, kernel_size, stride)[0]


class _AvgPool2d(Function):
    def __init__(self, kernel, stride):
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        self.x_shape = x.shape
        return im2col.windows(x, self.kernel, self.stride).mean(axis=(4, 5))

    def backward(self, g):
        kh, kw = self.kernel
        share = g / (kh * kw)
        window_grads = xp.broadcast_to(share, (kh, kw) + g.shape)
        return im2col.add_windows(xp.zeros(self.x_shape, dtype=g.dtype), window_grads, self.stride)


def avg_pool2d(x, kernel_size, stride=None):
    """Mean over each KH x KW window (stride defaults to the kernel size). (N,C,H,W) -> (N,C,OH,OW)."""
    kernel = im2col.pair(kernel_size, "kernel_size", "avg_pool2d")
    stride = kernel if stride is None else im2col.pair(stride, "stride", "avg_pool2d")
    return _AvgPool2d(kernel, stride)(x)


# --------------------------------------------------------------------- regularization
def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    The mask comes from the seeded backend generator (minidl.manual_seed). In evaluation
    (training=False) or with p = 0 the input is returned unchanged [Dworakowski 2019, eq. 9-11].

    Raises:
        TypeError: when ``p`` is not a real number (Python or NumPy).
        ValueError: when it lies outside [0, 1).
    """
    p = checks.real(p, "p", "dropout", low=0, high=1, high_open=True)
    if not training or p == 0:
        return x
    keep = random.generator().random(x.shape, dtype=x.dtype) >= p
    return x * (keep * x.dtype.type(1.0 / (1.0 - p)))


class _GradientPerturbation(Function):
    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        return x

    def backward(self, g):
        sigma = self.scale * g.std()
        return g + sigma * random.generator().standard_normal(g.shape, dtype=g.dtype)


def gradient_perturbation(x, scale=3.0, training=True):
    """Identity forward; backward adds N(0, (scale * std(grad))^2) noise to the gradient
    [Dworakowski 2019, eq. 21].

    std(grad) is the standard deviation over all elements of the incoming gradient; the noise comes
    from the seeded backend generator. In evaluation (training=False) it is the identity both ways.

    Raises:
        TypeError: when ``scale`` is not a real number (Python or NumPy).
        ValueError: when it is negative, NaN or infinite.
    """
    scale = checks.real(scale, "scale", "gradient_perturbation", low=0)
    if not training:
        return x
    return _GradientPerturbation(scale)(x)


# --------------------------------------------------------------------- losses
class _CrossEntropy(Function):
    def __init__(self, targets):
        self.targets = targets

    def forward(self, logits):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.log_probs = log_probs
        rows = xp.arange(len(self.targets))
        return -log_probs[rows, self.targets].mean()

    def backward(self, g):
        n = len(self.targets)
        grad = xp.exp(self.log_probs)
        grad[xp.arange(n), self.targets] -= 1
        return grad * (g / n)


def cross_entropy(logits, targets):
    """Mean over the batch of -log softmax(logits)[target].

    logits: (N, C) Tensor; targets: (N,) integer array or Tensor with values in [0, C) -> scalar Tensor.

    Raises:
        TypeError: when ``logits`` is not a floating Tensor, or ``targets`` not integer.
        ValueError: for logits not (N, C), an empty batch (N = 0: the mean of no losses is undefined),
            targets of another shape or outside [0, C).
    """
    targets = targets.data if isinstance(targets, Tensor) else targets
    checks.instance(logits, Tensor, "logits", "cross_entropy")
    checks.float_dtype(logits, "logits", "cross_entropy")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got {logits.shape}")
    if logits.shape[0] == 0:
        raise ValueError(f"cross_entropy: got an empty batch, logits of shape {logits.shape}; the mean "
                         f"loss over no samples is undefined")
    if not hasattr(targets, "dtype") or targets.dtype.kind not in "iu":
        kind = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"cross_entropy: expected integer class targets, got {kind}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: expected targets of shape ({logits.shape[0]},), "
                         f"got {targets.shape}")
    backend.check_on_backend(targets, "cross_entropy")
    classes = logits.shape[1]
    if int(targets.min()) < 0 or int(targets.max()) >= classes:
        raise ValueError(f"cross_entropy: targets must lie in [0, {classes}), got values in "
                         f"[{int(targets.min())}, {int(targets.max())}]")
    return _CrossEntropy(targets)(logits)


def _as_target(target, prediction, where):
    """``target`` as a Tensor of ``prediction``'s shape and floating dtype.

    Targets are never converted: an integer target would promote a float32 loss, and with it the
    gradients of float32 weights, to float64; a float64 target for float32 predictions is refused too.
    """
    checks.instance(prediction, Tensor, "prediction", where)
    checks.float_dtype(prediction, "prediction", where)
    target = target if isinstance(target, Tensor) else Tensor(target)
    checks.float_dtype(target, "target", where)
    if target.dtype != prediction.dtype:
        raise TypeError(f"{where}: target must have the prediction's dtype {prediction.dtype}, got "
                        f"{target.dtype}; convert it explicitly, e.g. target.astype(numpy.{prediction.dtype})")
    if target.shape != prediction.shape:
        raise ValueError(f"{where}: expected a target of shape {prediction.shape}, got {target.shape}")
    return target


def mse_loss(prediction, target, reduction="mean"):
    """Squared error (prediction - target)^2 summed or averaged over every element -> scalar Tensor.

    prediction: a floating Tensor; target: an array or Tensor of the same shape and dtype.

    Raises:
        TypeError: when the prediction or the target is not floating (an int64 target is refused, not
            cast: cast it to the prediction's dtype explicitly), or their dtypes differ.
        ValueError: for a target of another shape, or a reduction other than 'mean' or 'sum'.
    """
    checks.one_of(reduction, ("mean", "sum"), "reduction", "mse_loss")
    residual = prediction - _as_target(target, prediction, "mse_loss")
    squared = residual * residual
    return squared.mean() if reduction == "mean" else squared.sum()


def exponential_loss(prediction, target):
    """Mean of exp(-y * yhat) for labels y in {-1, +1} [Liang 2019, section 3.6] -> scalar Tensor.

    prediction: a floating Tensor; target: float labels of the same shape and dtype.

    Raises:
        TypeError: when the prediction or the target is not floating, or their dtypes differ.
        ValueError: for a target of another shape.
    """
    target = _as_target(target, prediction, "exponential_loss")
    return (-(target * prediction)).exp().mean()


def flatten(x, start_axis=1):
    """Reshape (N, d1, d2, ...) to (N, d1 * d2 * ...), keeping the axes before ``start_axis``.

    Raises:
        TypeError: when ``start_axis`` is not an integer.
        ValueError: when it is not an axis of ``x``.
    """
    start_axis = checks.integer(start_axis, "start_axis", "flatten", low=0, high=max(x.ndim - 1, 0))
    return x.reshape(x.shape[:start_axis] + (-1,))


__all__ = ["relu", "softmax", "log_softmax", "linear", "conv2d", "max_pool2d",
           "max_pool2d_with_indices", "avg_pool2d", "dropout", "gradient_perturbation",
           "cross_entropy", "mse_loss", "exponential_loss", "flatten"]
