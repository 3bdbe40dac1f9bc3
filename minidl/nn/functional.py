"""Differentiable neural-network operations on Tensors (shapes follow PyTorch: NCHW images).

Each operation is a :class:`~minidl.autograd.Function` with a hand-written backward pass, so that one
layer costs one node in the graph. Shape checks with a layer's name live in the layers (``minidl.nn``);
these functions check what they alone can know (dtypes, targets, probabilities, hyperparameters).
"""
from minidl import backend, checks, random
from minidl.autograd import Function, Tensor
from minidl.backend import xp
from minidl.nn import im2col, parallel, workspace


# --------------------------------------------------------------------- activations
def _select(g, keep, out=None):
    """``g`` where ``keep`` is True (or 1), +0.0 where it is False: a gradient routed by a mask, into ``out``
    (scratch shaped like ``g`` by default).

    Trick, "selection as an integer product": the float bits of ``g`` read as integers of the same
    width, times keep, are g's bits or 0 (the bits of +0.0). One pass with no temporary, like the float
    product ``g * keep``, but exact where that product is not: an infinite or NaN gradient at an
    element that is not kept gives 0, as PyTorch's selections do, not the NaN of inf * 0.
    """
    out = workspace.like(g) if out is None else out
    if g.dtype.itemsize not in (2, 4, 8):  # no integer type as wide (long double): a plain selection
        xp.copyto(out, xp.where(keep, g, g.dtype.type(0)))
        return out
    bits = xp.dtype(f"i{g.dtype.itemsize}")
    xp.multiply(g.view(bits), keep, out=out.view(bits))
    return out


class _ReLU(Function):
    """max(x, 0), into scratch arrays of the input's layout; the gradient passes where the output is not
    0 (where x > 0, and where x is NaN): the mask for :func:`_select`."""

    def forward(self, x):
        y = xp.maximum(x, 0, out=workspace.like(x))
        self.keep = xp.not_equal(y, 0, out=workspace.like(y, bool))
        return y

    def backward(self, g):
        return _select(g, self.keep)


def relu(x):
    """max(x, 0) elementwise, as PyTorch: relu(-inf) = 0 and NaN stays NaN. The gradient is 0 where
    x <= 0 (at 0 included) and passes through elsewhere, NaN included. Integer inputs give integers.

    Raises:
        TypeError: for a boolean input (PyTorch has no relu of booleans either).
    """
    if getattr(x, "dtype", None) == bool:
        raise TypeError("relu: expected a numeric (integer or floating) input, got dtype bool")
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


# im2col scratch per chunk of the batch in the input gradient: about a core's L2 cache, so the GEMM reads
# what the copy just wrote from cache (5-10 % faster steps than 32 MiB on the 56x56 benchmark cells)
TRANSPOSED_CHUNK_BYTES = 4 << 20


class _Conv2d(Function):
    """Convolution as one GEMM: W (O, C*KH*KW) @ columns (C*KH*KW, N*OH*OW).

    The output is the channel-major view (N, O, OH, OW) of the GEMM's (O, N, OH, OW) result (see
    :mod:`minidl.nn.im2col`), and every large array comes from the workspace.

    Trick, "the bias as one more column of the weight": [W | b] @ [columns; 1...1] adds the bias inside
    the GEMM, and the weight gradient's product [columns; 1...1] @ g^T gives the bias gradient (the sum
    of g over positions) as its last row, so neither direction makes a pass of its own over the output.
    """

    saved_inputs = (0, 1)  # the columns may be a view of the input

    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        o = weight.shape[0]
        n = x.shape[0]
        self.columns, (oh, ow) = im2col.columns(x, weight.shape[2:], self.stride, self.padding,
                                                ones_row=bias is not None)
        self.weight, self.x_shape, self.out_size = weight, x.shape, (oh, ow)
        matrix = weight.reshape(o, -1)
        if bias is not None:
            matrix = xp.concatenate([matrix, bias[:, None]], axis=1)
        y = workspace.empty((o, n, oh, ow), x.dtype)
        xp.matmul(matrix, self.columns, out=y.reshape(o, -1))
        return y.transpose(1, 0, 2, 3)

    def backward(self, g):
        o = self.weight.shape[0]
        g_rows = g.transpose(1, 0, 2, 3).reshape(o, -1)  # (O, N*OH*OW); no copy if g is channel-major
        products = (self.columns @ g_rows.T).T  # (O, C*KH*KW [+ 1]); BLAS-friendly order
        grad_w = products[:, :self.weight[0].size].reshape(self.weight.shape)
        grad_x = None
        if self.inputs[0].requires_grad:  # none for the data itself
            (o, c, kh, kw), (ph, pw) = self.weight.shape, self.padding
            same_size = self.stride == (1, 1) and (kh - 1 - ph, kw - 1 - pw) == (ph, pw)
            if same_size and o <= c:
                grad_x = self._grad_input_transposed(g)
            elif self.stride == (1, 1) and o <= 4 * c:
                grad_x = self._grad_input_flat(g)
            else:
                grad_x = self._grad_input_col2im(g_rows)
        grads = (grad_x, grad_w)
        return grads + (products[:, -1].copy(),) if len(self.inputs) == 3 else grads

    def _grad_input_transposed(self, g):
        """Stride 1, output as large as the input ("same" padding, (KH-1)/2), O <= C: the
        input gradient is itself a convolution, of g padded by (KH-1-ph, KW-1-pw) with
        the kernel flipped and its in/out axes swapped: an im2col and a GEMM, (C, O*KH*KW) @
        (O*KH*KW, N*H*W), into a fresh channel-major image, and no image is zeroed and added to. Why
        only where O <= C: the matrix each route builds has O*KH*KW rows here and C*KH*KW in col2im, so
        with more outputs than inputs col2im moves less memory (a 3x3 convolution from 16 to 128
        channels on 28x28 images, batch 32: 37 ms a step by col2im, 91 ms by this route; from 128 to 64
        channels: 116 ms and 93 ms).
        The batch goes in chunks whose im2col matrix stays under TRANSPOSED_CHUNK_BYTES (cache-sized
        scratch instead of a second matrix as large as the forward one), each product written straight
        into its images of the gradient."""
        o, c, kh, kw = self.weight.shape
        n, _, h, w = self.x_shape
        ph, pw = self.padding
        flipped = self.weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, o * kh * kw)
        grad = workspace.empty((c, n, h, w), g.dtype)
        chunk = max(1, TRANSPOSED_CHUNK_BYTES // (o * kh * kw * h * w * g.dtype.itemsize))
        rows = grad.reshape(c, n * h * w)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            g_columns, _ = im2col.columns(g[start:stop], (kh, kw), (1, 1), (kh - 1 - ph, kw - 1 - pw))
            xp.matmul(flipped, g_columns, out=rows[:, start * h * w:stop * h * w])
        return grad.transpose(1, 0, 2, 3)

    def _grad_input_flat(self, g):
        """Stride 1, any padding: col2im on the flattened padded grid.

        Trick: with the images laid out as one long row per channel, (N, Hp, Wp) flattened, the window
        offset (i, j) is a shift by i * Wp + j along that row. So g is first placed on the padded grid
        (zero where no output lies), the product W^T g is formed on that grid, and each of the KH*KW
        slice-adds of col2im becomes one add of C rows of N*Hp*Wp contiguous numbers, instead of a pass
        over strided views with one short inner loop per image row. A shift never carries a value into
        the next image: the zero margin of the grid, KH - 1 rows and KW - 1 columns wide, absorbs it.
        Costs: the product grows by (Hp Wp) / (OH OW) (1.4x for the conv net's 13x13 -> 11x11 layer), and
        g's O channels are copied onto the grid, while the strided adds it saves scale with C: so only
        where O <= 4 C. Measured (ms, this route against col2im): 32 -> 64 channels, 13x13 unpadded,
        batch 64: 2.9 against 3.7; 32 -> 64, 56x56 padded, batch 16: 19 against 25; 16 -> 128, 28x28: 8.0
        against 7.6 and 3 -> 16: 0.73 against 0.62 (col2im's there); near ties between.
        """
        o, c, kh, kw = self.weight.shape
        n, _, h, w = self.x_shape
        (ph, pw), (oh, ow) = self.padding, self.out_size
        hp, wp = h + 2 * ph, w + 2 * pw
        length = n * hp * wp
        grid = workspace.empty((o, n, hp, wp), g.dtype)
        grid[:, :, oh:] = 0
        grid[:, :, :oh, ow:] = 0
        parallel.copyto(grid[:, :, :oh, :ow], g.transpose(1, 0, 2, 3))
        weight_rows = self.weight.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)  # rows (KH, KW, C)
        products = workspace.empty((kh * kw, c, length), g.dtype)
        xp.matmul(weight_rows, grid.reshape(o, length), out=products.reshape(kh * kw * c, length))
        reach = (kh - 1) * wp + kw - 1
        padded = workspace.empty((c, length + reach), g.dtype)  # room for the last shifts' zeros
        padded[:, length:] = 0
        padded[:, :length] = products[0]  # offset (0, 0): no shift
        for k in range(1, kh * kw):
            shift = (k // kw) * wp + k % kw
            padded[:, shift:shift + length] += products[k]
        image = padded[:, :length].reshape(c, n, hp, wp).transpose(1, 0, 2, 3)
        return im2col.unpad(image, self.padding)

    def _grad_input_col2im(self, g_rows):
        """col2im of W^T g, the plain route for any stride and padding: the products of each kernel
        offset summed back onto the padded image by KH*KW slice-adds (written once, not added, where
        windows do not overlap: stride >= kernel).

        Rows of W^T are ordered (KH, KW, C) and the image is channel-major, so each of the KH*KW slice
        operations reads and writes in one order.
        """
        o, c, kh, kw = self.weight.shape
        n, _, h, w = self.x_shape
        (ph, pw), (sh, sw), (oh, ow) = self.padding, self.stride, self.out_size
        weight_rows = self.weight.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)
        grad_columns = workspace.empty((kh, kw, c, n, oh, ow), g_rows.dtype)
        xp.matmul(weight_rows, g_rows, out=grad_columns.reshape(kh * kw * c, -1))
        grad_columns = grad_columns.transpose(0, 1, 3, 2, 4, 5)
        grad_padded = im2col.empty_like_layout((n, c, h + 2 * ph, w + 2 * pw), g_rows.dtype)
        if sh >= kh and sw >= kw:
            im2col.put_windows(grad_padded, grad_columns, self.stride)
        else:
            grad_padded[...] = 0
            im2col.add_windows(grad_padded, grad_columns, self.stride)
        return im2col.unpad(grad_padded, self.padding)


def _check_conv_arguments(x, weight, bias, kernel, stride, padding, max_bytes, where):
    """Check the dtypes and shapes of a convolution's operands and the size of its im2col matrix."""
    checks.float_dtype(x, "the input", where)
    checks.float_dtype(weight, "the weight", where)
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{where}: expected input (N, C, H, W) and weight (O, C, KH, KW), got "
                         f"shapes {x.shape} and {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"{where}: the input has {x.shape[1]} channels but the weight expects "
                         f"{weight.shape[1]} (weight shape {weight.shape}, input shape {x.shape})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{where}: expected a bias of shape ({weight.shape[0]},), got {bias.shape}")
    (h, w), (kh, kw), (ph, pw) = x.shape[2:], kernel, padding
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"{where}: the padded input ({h + 2 * ph}, {w + 2 * pw}) is smaller than the "
                         f"kernel {kernel} (input shape {x.shape}, padding {padding})")
    needed = im2col.column_bytes(x.shape, kernel, stride, padding, x.dtype.itemsize)
    limit = im2col.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if needed > limit:
        raise ValueError(f"{where}: the im2col matrix of input {x.shape} needs {needed} bytes "
                         f"({needed / 2 ** 30:.2f} GiB), more than max_bytes={limit} "
                         f"({limit / 2 ** 30:.2f} GiB); use a smaller batch or raise max_bytes")


def conv2d(x, weight, bias=None, stride=1, padding=0, max_bytes=None, where="conv2d"):
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    x: (N, C, H, W), weight: (O, C, KH, KW), bias: (O,) -> (N, O, OH, OW) with
    OH = floor((H + 2 padding - KH) / stride) + 1 (and likewise OW). The output is laid out channel-major
    in memory (see :mod:`minidl.nn.im2col`).

    Args:
        max_bytes: the largest im2col matrix (C*KH*KW x N*OH*OW elements) allowed; None means
            ``im2col.DEFAULT_MAX_BYTES`` (4 GiB).
        where: how errors name the caller (Conv2d passes its own description).

    Raises:
        TypeError: for a stride or padding that is not an int or a pair of ints, or an input or
            weight that is not floating point.
        ValueError: for a stride below 1, a negative padding, operands of the wrong rank, a channel
            mismatch, a padded input smaller than the kernel, or an im2col matrix above max_bytes
            (naming the bytes needed and the limit).
    """
    stride = checks.pair(stride, "stride", where, low=1)
    padding = checks.pair(padding, "padding", where, low=0)
    _check_conv_arguments(x, weight, bias, weight.shape[2:], stride, padding, max_bytes, where)
    function = _Conv2d(stride, padding)
    return function(x, weight) if bias is None else function(x, weight, bias)


# --------------------------------------------------------------------- pooling
class _MaxPool2d(Function):
    """Maximum of each window, with the window's first maximum kept compactly (one byte per window) as
    its index: the flat offset kh * KW + kw, as PyTorch's within the window. Where a window holds NaN
    the output is NaN and the index its last NaN, as PyTorch's.

    Both come from the KH*KW strided views of the input, one per kernel offset, without copying the
    windows: KH*KW - 1 elementwise maxima, then the index as the number of leading views that miss
    the maximum. Why not a reshape and one ``max``/``argmax`` over the window axes: NumPy reduces over
    short axes one window at a time, 10-20x slower. Outputs keep the input's layout (channel-major
    after a convolution), so the backward pass reads and writes in one order.
    """

    def __init__(self, kernel, stride):
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel, self.stride
        self.out_size = ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
        views = [view for _, _, view in im2col.window_slices(x, self.kernel, self.stride, self.out_size)]
        y = workspace.like(views[0])
        xp.copyto(y, views[0])
        for view in views[1:]:
            xp.maximum(y, view, out=y)
        self.index = workspace.like(y, xp.min_scalar_type(len(views)))
        self.index[...] = 0
        found, missed = xp.equal(views[0], y, out=workspace.like(y, bool)), workspace.like(y, bool)
        for view in views[1:]:
            self.index += xp.logical_not(found, out=missed)
            found |= xp.equal(view, y, out=missed)
        if bool(xp.isnan(y).any()):  # NaN compares unequal to itself: the last NaN, as PyTorch
            for k, view in enumerate(views):
                xp.copyto(self.index, k, where=xp.isnan(view))
        self.x = x
        return y

    def backward(self, g):
        (kh, kw), (sh, sw), (oh, ow) = self.kernel, self.stride, self.out_size
        grad = im2col.empty_like_layout(self.x.shape, g.dtype, like=self.x)
        disjoint = sh >= kh and sw >= kw
        if not disjoint or (sh, sw) != (kh, kw) or self.x.shape[2:] != (oh * kh, ow * kw):
            grad[...] = 0  # overlaps to add into, or elements that no window reaches
        for k, (_, _, view) in enumerate(im2col.window_slices(grad, self.kernel, self.stride,
                                                               self.out_size)):
            if disjoint:  # each element is written once, straight into the gradient image
                _select(g, self.index == k, out=view)
            else:
                view += _select(g, self.index == k)
        return grad


def _pool_arguments(x, kernel_size, stride, where):
    """(kernel, stride) pairs of a pooling call, checked against the (N, C, H, W) input."""
    kernel = checks.pair(kernel_size, "kernel_size", where, low=1)
    stride = kernel if stride is None else checks.pair(stride, "stride", where, low=1)
    checks.float_dtype(x, "the input", where)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected input of shape (N, C, H, W), got {x.shape}")
    if x.shape[2] < kernel[0] or x.shape[3] < kernel[1]:
        raise ValueError(f"{where}: the kernel {kernel} is larger than the input's (H, W) = "
                         f"{x.shape[2:]} (input shape {x.shape})")
    return kernel, stride


def max_pool2d_with_indices(x, kernel_size, stride=None):
    """Max pooling that also returns, per window, the flat position (kh * KW + kw) it selected.

    x: (N, C, H, W) -> (y: (N, C, OH, OW), index: backend unsigned int array (N, C, OH, OW)).
    The index is the first maximum of the window, or its last NaN where it holds NaN (as PyTorch).

    Raises:
        TypeError: for a kernel_size or stride that is not an int or a pair of ints, or an input that
            is not floating point.
        ValueError: for a kernel_size or stride below 1, an input that is not 4-D, or a kernel larger
            than the input.
    """
    kernel, stride = _pool_arguments(x, kernel_size, stride, "max_pool2d")
    function = _MaxPool2d(kernel, stride)
    y = function(x)
    return y, function.index


def max_pool2d(x, kernel_size, stride=None):
    """Maximum over each KH x KW window (stride defaults to the kernel size). (N,C,H,W) -> (N,C,OH,OW).

    NaN in a window gives NaN, as in PyTorch. Raises as :func:`max_pool2d_with_indices`.
    """
    return max_pool2d_with_indices(x, kernel_size, stride)[0]


class _AvgPool2d(Function):
    """The sum of the KH*KW strided views divided by KH*KW: elementwise adds of whole views, not a
    ``mean`` over the short window axes (which NumPy reduces one window at a time)."""

    def __init__(self, kernel, stride):
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel, self.stride
        self.x_shape = x.shape
        out_size = ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
        views = [view for _, _, view in im2col.window_slices(x, self.kernel, self.stride, out_size)]
        total = views[0].copy(order="K")
        for view in views[1:]:
            total += view
        total /= kh * kw
        return total

    def backward(self, g):
        (kh, kw), (sh, sw) = self.kernel, self.stride
        share = g / (kh * kw)
        window_grads = xp.broadcast_to(share, (kh, kw) + g.shape)
        grad = workspace.empty(self.x_shape, g.dtype)
        if sh >= kh and sw >= kw:
            return im2col.put_windows(grad, window_grads, self.stride)
        grad[...] = 0
        return im2col.add_windows(grad, window_grads, self.stride)


def avg_pool2d(x, kernel_size, stride=None):
    """Mean over each KH x KW window (stride defaults to the kernel size). (N,C,H,W) -> (N,C,OH,OW).

    Raises:
        TypeError: for a kernel_size or stride that is not an int or a pair of ints, or an input that
            is not floating point.
        ValueError: for a kernel_size or stride below 1, an input that is not 4-D, or a kernel larger
            than the input (which would give an empty output).
    """
    kernel, stride = _pool_arguments(x, kernel_size, stride, "avg_pool2d")
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
