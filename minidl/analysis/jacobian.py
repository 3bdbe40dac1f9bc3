"""The Data Jacobian Matrix of a ReLU network, built from its masks, and its stacked form, the EDJM.

A ReLU network is, at each input x_i, exactly a linear system [Wang 2016, eq. 5-7, 10-11]:

    f(x_i) = W_m D^i_{m-1} W_{m-1} ... D^i_1 W_1 x_i + b_i = DJM_i x_i + b_i,

where D^i_l is the 0/1 diagonal mask of the l-th ReLU at x_i and b_i carries the biases through the same
masks. Convolutions and average pooling are linear maps like W_l; max pooling selects one input per
window, like a mask that keeps one row; dropout in evaluation and flattening are the identity.

:func:`djm` builds DJM_i (d_out, d_in) for every sample at once, without a Python loop over samples:
it starts from the identity at the cheaper end of the network (the output when d_out is small, the input
when d_in is small), pushes it through the layers as batched matrix products, and splits the samples
into chunks that fit a byte budget. ``method="autograd"`` instead takes one vector-Jacobian product per
output through :mod:`minidl.autograd`; it works for any model, not only sequences of the layers above.

Stacking the rows of one output over a data set gives that output's Extended Data Jacobian Matrix
(section 3), whose normalized singular values measure the complexity of the learned function (figure 1)
and are summarized by the score of eq. 12 (:func:`edjm_score`).
"""
import math
import warnings
from collections import namedtuple

from minidl import backend, checks, nn
from minidl.autograd import Tensor, no_grad
from minidl.backend import xp
from minidl.nn import im2col
from minidl.nn.layers import check_input

DEFAULT_MAX_BYTES = 512 * 2 ** 20
MIN_SINGULAR_VALUES = 20
SUPPORTED_LAYERS = (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d, nn.ReLU, nn.Dropout, nn.Flatten,
                    nn.GradientPerturbation)
_MASKED = (nn.ReLU, nn.MaxPool2d)

ForwardMasks = namedtuple("ForwardMasks", ["output", "layers", "masks"])
ForwardMasks.__doc__ = """The forward pass of :func:`forward_masks`.

output: backend array (n, ...), the model's output; layers: the layers in order; masks: one entry per
layer: for ReLU the boolean mask (n, ...) of its positive inputs (D^i, eq. 7), for MaxPool2d the integer
array (n, C, OH, OW) of the flat position kh * KW + kw each window selected, None for the other layers.
"""


# --------------------------------------------------------------------- the network as a sequence
def _layers(model, where):
    """The layers of ``model`` in order (nested Sequentials flattened), or a TypeError naming the first
    layer that is not a linear map, a mask or the identity."""
    if isinstance(model, nn.Sequential):
        return [layer for child in model for layer in _layers(child, where)]
    if isinstance(model, SUPPORTED_LAYERS):
        return [model]
    names = ", ".join(kind.__name__ for kind in SUPPORTED_LAYERS)
    raise TypeError(f"{where}: cannot express a {type(model).__name__} as masks and linear maps; the "
                    f"explicit construction takes Sequential models of {names}; use method='autograd' "
                    f"for any other model")


class _evaluation:
    """Put every module of a model in evaluation mode for the block, then restore each one's own mode."""

    def __init__(self, model):
        self.modes = [(module, module.training) for module in model.modules()]

    def __enter__(self):
        for module, _ in self.modes:
            module.training = False

    def __exit__(self, *exc):
        for module, mode in self.modes:
            module.training = mode


def _as_batch(X, where):
    """A batch of samples (n, ...) as an array (host or backend) with at least one sample."""
    X = X.data if isinstance(X, Tensor) else X
    if not hasattr(X, "ndim") or X.ndim < 2 or len(X) == 0 or X.dtype.kind != "f":
        got = f"shape {X.shape}, dtype {X.dtype}" if hasattr(X, "ndim") else type(X).__name__
        raise ValueError(f"{where}: expected a floating array of samples (n, ...) with n >= 1, got {got}")
    return X


def _run(layers, x):
    """Run ``layers`` on the Tensor ``x`` (no graph) -> (output array, masks, per-sample input shapes)."""
    masks, shapes = [], []
    with no_grad():
        for layer in layers:
            shapes.append(x.shape[1:])
            mask = None
            if isinstance(layer, nn.ReLU):
                mask = x.data > 0
                x = layer(x)
            elif isinstance(layer, nn.MaxPool2d):
                check_input("MaxPool2d", x, 4, "(N, C, H, W)")
                x, mask = nn.functional.max_pool2d_with_indices(x, layer.kernel_size, layer.stride)
            else:
                x = layer(x)
            masks.append(mask)
    shapes.append(x.shape[1:])
    return x.data, masks, shapes


def forward_masks(model, X):
    """The forward pass of a ReLU network with the mask of every ReLU and the choice of every max pool.

    Args:
        model: a Sequential of the layers in SUPPORTED_LAYERS (run in evaluation mode: dropout off).
        X: (n, ...) samples, a host or backend array of the model's dtype.

    Returns:
        ForwardMasks(output (n, ...), layers, masks): masks[l] is the boolean (n, ...) mask of the
        positive inputs of layer l for a ReLU (the diagonal of D^i_l, [Wang 2016, eq. 7]), the integer
        (n, C, OH, OW) flat window position kh * KW + kw chosen by layer l for a MaxPool2d, else None.
    """
    layers = _layers(model, "forward_masks")
    X = _as_batch(X, "forward_masks")
    with _evaluation(model):
        output, masks, _ = _run(layers, Tensor(backend.to_device(X)))
    return ForwardMasks(output, layers, masks)


# --------------------------------------------------------------------- each layer as a linear map
# A carried array J holds k vectors per sample: (k, *features) while it is the same for every sample
# (before the first mask), (m, k, *features) after it.
def _strided(kernel_offset, stride, out_hw):
    """The slices that pick, from every window, the element at ``kernel_offset``."""
    (i, j), (sh, sw), (oh, ow) = kernel_offset, stride, out_hw
    return slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _conv(v, weight, stride, padding):
    """Convolution without bias of (B, C, H, W) -> (B, O, OH, OW)."""
    win = im2col.windows(im2col.pad(v, padding), weight.shape[2:], stride)  # (B, C, OH, OW, KH, KW)
    return xp.tensordot(win, weight, axes=((1, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)


def _conv_adjoint(g, weight, stride, padding, in_shape):
    """The transpose of :func:`_conv`: (B, O, OH, OW) -> (B, C, H, W) with (C, H, W) = in_shape."""
    (ph, pw), (c, h, w) = padding, in_shape
    columns = xp.tensordot(weight, g, axes=((0,), (1,)))  # (C, KH, KW, B, OH, OW)
    padded = xp.zeros((g.shape[0], c, h + 2 * ph, w + 2 * pw), dtype=g.dtype)
    im2col.add_windows(padded, columns.transpose(1, 2, 3, 0, 4, 5), stride)
    return im2col.unpad(padded, padding)


def _avg_pool_adjoint(g, kernel, stride, in_shape):
    share = xp.broadcast_to(g / (kernel[0] * kernel[1]), tuple(kernel) + g.shape)
    target = xp.zeros((g.shape[0],) + tuple(in_shape), dtype=g.dtype)
    return im2col.add_windows(target, share, stride)


def _max_pool_select(J, index, layer, out_hw):
    """Forward through a max pool: each window keeps the element it chose. index: (m, C, OH, OW)."""
    kw = layer.kernel_size[1]
    chosen = index[:, None]  # (m, 1, C, OH, OW): the same choice for all k vectors of a sample
    out = None
    for i in range(layer.kernel_size[0]):
        for j in range(kw):
            rows, cols = _strided((i, j), layer.stride, out_hw)
            term = J[..., rows, cols] * (chosen == i * kw + j)
            out = term if out is None else xp.add(out, term, out=out)
    return out


def _max_pool_spread(J, index, layer, in_shape):
    """Back through a max pool: each window's value goes to the element it chose (overlaps add up)."""
    kw = layer.kernel_size[1]
    m, out_hw = index.shape[0], index.shape[2:]
    k = J.shape[-4]
    chosen = index[:, None]
    out = xp.zeros((m, k) + tuple(in_shape), dtype=J.dtype)
    for i in range(layer.kernel_size[0]):
        for j in range(kw):
            rows, cols = _strided((i, j), layer.stride, out_hw)
            out[..., rows, cols] += J * (chosen == i * kw + j)
    return out


def _mask(J, mask, batched):
    """J times the 0/1 ReLU mask (m, ...) of each sample; in place once J is per sample."""
    mask = mask[:, None]
    return xp.multiply(J, mask, out=J) if batched else J[None] * mask


def _per_vector(J, features, linear_map):
    """Apply ``linear_map`` (B, *features) -> (B, *out) to every vector of J, keeping its leading axes."""
    lead = J.shape[:J.ndim - len(features)]
    out = linear_map(J.reshape((-1,) + tuple(features)))
    return out.reshape(lead + out.shape[1:])


def _push(layer, J, mask, shape_in, shape_out, batched, with_bias=False):
    """J through ``layer`` from its input to its output (J holds tangent vectors, or biases)."""
    if isinstance(layer, nn.Linear):
        J = _per_vector(J, shape_in, lambda v: v @ layer.weight.data.T)
        return J + layer.bias.data if with_bias and layer.bias is not None else J
    if isinstance(layer, nn.Conv2d):
        J = _per_vector(J, shape_in, lambda v: _conv(v, layer.weight.data, layer.stride, layer.padding))
        if with_bias and layer.bias is not None:
            J = J + layer.bias.data[:, None, None]
        return J
    if isinstance(layer, nn.AvgPool2d):
        return _per_vector(J, shape_in, lambda v: im2col.windows(v, layer.kernel_size, layer.stride)
                           .mean(axis=(4, 5)))
    if isinstance(layer, nn.ReLU):
        return _mask(J, mask, batched)
    if isinstance(layer, nn.MaxPool2d):
        return _max_pool_select(J if batched else J[None], mask, layer, shape_out[1:])
    if isinstance(layer, nn.Flatten):
        return J.reshape(J.shape[:J.ndim - len(shape_in)] + tuple(shape_out))
    return J  # Dropout in evaluation, GradientPerturbation: the identity


def _pull(layer, J, mask, shape_in, shape_out, batched):
    """J through ``layer`` from its output back to its input (J holds rows of the Jacobian)."""
    if isinstance(layer, nn.Linear):
        return _per_vector(J, shape_out, lambda g: g @ layer.weight.data)
    if isinstance(layer, nn.Conv2d):
        return _per_vector(J, shape_out, lambda g: _conv_adjoint(g, layer.weight.data, layer.stride,
                                                                 layer.padding, shape_in))
    if isinstance(layer, nn.AvgPool2d):
        return _per_vector(J, shape_out, lambda g: _avg_pool_adjoint(g, layer.kernel_size, layer.stride,
                                                                     shape_in))
    if isinstance(layer, nn.ReLU):
        return _mask(J, mask, batched)
    if isinstance(layer, nn.MaxPool2d):
        return _max_pool_spread(J if batched else J[None], mask, layer, shape_in)
    if isinstance(layer, nn.Flatten):
        return J.reshape(J.shape[:J.ndim - len(shape_out)] + tuple(shape_in))
    return J


# --------------------------------------------------------------------- cost and memory
def _layer_cost(layer, shape_in, shape_out):
    """Multiply-adds to push one vector through ``layer``."""
    if isinstance(layer, nn.Linear):
        return math.prod(shape_in) * math.prod(shape_out)
    if isinstance(layer, nn.Conv2d):
        return math.prod(layer.weight.shape[1:]) * math.prod(shape_out)
    if isinstance(layer, (nn.AvgPool2d, nn.MaxPool2d)):
        return math.prod(layer.kernel_size) * math.prod(shape_out)
    return math.prod(shape_out) if isinstance(layer, nn.ReLU) else 0


def _per_sample_cost(layers, shapes, from_output):
    """Multiply-adds per sample and carried vector, from the first mask on (before it, all samples share
    one product that is computed once)."""
    steps = list(zip(layers, shapes[:-1], shapes[1:]))
    if from_output:
        steps.reverse()
    first = next((i for i, (layer, _, _) in enumerate(steps) if isinstance(layer, _MASKED)), len(steps))
    return sum(_layer_cost(*step) for step in steps[first:])


def _column_size(layer, shape_out):
    if isinstance(layer, nn.Conv2d):
        return math.prod(layer.weight.shape[1:]) * math.prod(shape_out[1:])
    return 0


def _working_bytes(layers, shapes, k, itemsize):
    """(bytes shared by all samples, bytes per sample) of the explicit construction with k vectors."""
    largest = max(math.prod(shape) for shape in shapes)
    columns = max((_column_size(layer, out) for layer, out in zip(layers, shapes[1:])), default=0)
    masks = sum(math.prod(shape) * (1 if isinstance(layer, nn.ReLU) else 8)
                for layer, shape in zip(layers, shapes[1:]) if isinstance(layer, _MASKED))
    forward = itemsize * (math.prod(shapes[0]) + 2 * largest + columns) + masks
    carried = itemsize * k * (3 * largest + columns)
    return carried, forward + carried


def _chunk_size(n, shared, per_sample, max_bytes, where):
    if shared + per_sample > max_bytes:
        raise ValueError(f"{where}: one sample needs about {(shared + per_sample) / 2 ** 20:.1f} MiB of "
                         f"working memory, more than max_bytes={max_bytes} ({max_bytes / 2 ** 20:.1f} "
                         f"MiB); raise max_bytes")
    return max(1, min(n, (max_bytes - shared) // per_sample))


def _chunks(n, size):
    return (slice(start, min(start + size, n)) for start in range(0, n, size))


def _dtype(model, X, where):
    dtypes = {parameter.dtype for parameter in model.parameters()}
    if len(dtypes) > 1 or (dtypes and X.dtype not in dtypes):
        raise TypeError(f"{where}: the samples are {X.dtype} and the parameters "
                        f"{sorted(str(d) for d in dtypes)}; convert them to one dtype explicitly")
    return X.dtype


# --------------------------------------------------------------------- the Data Jacobian Matrix
def djm(model, X, method="explicit", accumulate="auto", max_bytes=DEFAULT_MAX_BYTES):
    """The Data Jacobian Matrix of every sample, DJM_i = d f(x_i) / d x_i [Wang 2016, eq. 8-10].

    For a ReLU network DJM_i = W_m D^i_{m-1} W_{m-1} ... D^i_1 W_1 (eq. 10), the exact linear system of
    x_i (eq. 11: f(x_i) = DJM_i x_i + :func:`effective_bias`). The model runs in evaluation mode (dropout
    off); each module's mode is restored afterwards. At a ReLU input of exactly 0 the mask is 0, the
    gradient PyTorch and minidl take there.

    Args:
        model: for ``method="explicit"``, a Sequential (nested ones allowed) of Linear, Conv2d,
            AvgPool2d, MaxPool2d, ReLU, Dropout, Flatten and GradientPerturbation; any other layer is a
            TypeError naming it. For ``method="autograd"``, any Module whose samples do not interact.
        X: (n, ...) samples, a host or backend array (or Tensor) of the model's dtype.
        method: "explicit" builds the products of the masked weight matrices; "autograd" takes one
            vector-Jacobian product per output through the recorded graph.
        accumulate: for "explicit", the end the products start from: "output" (rows: cheap when d_out
            is small), "input" (columns: cheap when d_in is small) or "auto", the one with fewer
            multiply-adds.
        max_bytes: working memory (beyond the result itself) allowed at once; the samples are processed
            in chunks that fit. A ValueError says so when not even one sample fits.

    Returns:
        backend array (n, d_out, d_in) of the model's dtype, with d_in, d_out the flattened sizes of a
        sample and of its output.
    """
    if method == "autograd":
        return _djm_autograd(model, X, max_bytes)
    checks.one_of(method, ("explicit", "autograd"), "method", "djm")
    checks.one_of(accumulate, ("auto", "output", "input"), "accumulate", "djm")
    layers = _layers(model, "djm")
    X = _as_batch(X, "djm")
    dtype = _dtype(model, X, "djm")
    n = len(X)
    with _evaluation(model):
        _, _, shapes = _run(layers, Tensor(backend.to_device(X[:1])))
        d_in, d_out = math.prod(shapes[0]), math.prod(shapes[-1])
        if accumulate == "auto":
            from_output = (d_out * _per_sample_cost(layers, shapes, True)
                           <= d_in * _per_sample_cost(layers, shapes, False))
        else:
            from_output = accumulate == "output"
        k = d_out if from_output else d_in
        shared, per_sample = _working_bytes(layers, shapes, k, dtype.itemsize)
        size = _chunk_size(n, shared, per_sample, max_bytes, "djm")
        start_shape = shapes[-1] if from_output else shapes[0]
        identity = xp.eye(k, dtype=dtype).reshape((k,) + tuple(start_shape))
        result = None if size >= n else xp.empty((n, d_out, d_in), dtype=dtype)
        for chunk in _chunks(n, size):
            _, masks, _ = _run(layers, Tensor(backend.to_device(X[chunk])))
            J = _carry(layers, masks, shapes, identity, from_output)
            m = chunk.stop - chunk.start
            if from_output:
                block = xp.broadcast_to(J.reshape(J.shape[:-len(shapes[0])] + (d_in,)), (m, d_out, d_in))
            else:
                J = xp.broadcast_to(J.reshape(J.shape[:-len(shapes[-1])] + (d_out,)), (m, d_in, d_out))
                block = J.transpose(0, 2, 1)
            if result is None:  # one chunk: the product itself is the result when it is contiguous
                return xp.ascontiguousarray(block)
            result[chunk] = block
    return result


def _carry(layers, masks, shapes, J, from_output, with_bias=False):
    """Push J through every layer (from the input) or pull it back (from the output)."""
    steps = list(zip(layers, masks, shapes[:-1], shapes[1:]))
    batched = False
    for layer, mask, shape_in, shape_out in (reversed(steps) if from_output else steps):
        if from_output:
            J = _pull(layer, J, mask, shape_in, shape_out, batched)
        else:
            J = _push(layer, J, mask, shape_in, shape_out, batched, with_bias)
        batched = batched or isinstance(layer, _MASKED)
    return J


def effective_bias(model, X, max_bytes=DEFAULT_MAX_BYTES):
    """The bias b_i of each sample's linear system: f(x_i) = DJM_i x_i + b_i exactly.

    The biases are carried through the masks of x_i: b_i = W_m D^i_{m-1} (... D^i_1 b_1 ...) + b_m, the
    network run on a zero input with the masks of x_i frozen ([Wang 2016, eq. 5-7] with biases). For a
    network without biases b_i = 0 and f(x_i) = DJM_i x_i (eq. 11).

    Args:
        model, X, max_bytes: as for :func:`djm` with ``method="explicit"``.

    Returns:
        backend array (n, d_out) of the model's dtype.
    """
    layers = _layers(model, "effective_bias")
    X = _as_batch(X, "effective_bias")
    dtype = _dtype(model, X, "effective_bias")
    n = len(X)
    with _evaluation(model):
        _, _, shapes = _run(layers, Tensor(backend.to_device(X[:1])))
        d_out = math.prod(shapes[-1])
        shared, per_sample = _working_bytes(layers, shapes, 1, dtype.itemsize)
        size = _chunk_size(n, shared, per_sample, max_bytes, "effective_bias")
        result = xp.empty((n, d_out), dtype=dtype)
        zero = xp.zeros((1,) + tuple(shapes[0]), dtype=dtype)
        for chunk in _chunks(n, size):
            _, masks, _ = _run(layers, Tensor(backend.to_device(X[chunk])))
            b = _carry(layers, masks, shapes, zero, from_output=False, with_bias=True)
            result[chunk] = b.reshape(-1, d_out)
    return result


def _graph_bytes(output):
    """Bytes of the arrays that the Functions of ``output``'s graph hold for their backward pass."""
    total, seen, stack = 0, set(), [output.creator]
    while stack:
        function = stack.pop()
        if function is None or id(function) in seen:
            continue
        seen.add(id(function))
        total += sum(a.nbytes for a in vars(function).values() if backend.is_backend_array(a))
        stack.extend(tensor.creator for tensor in function.inputs)
    return total


def _outputs_per_sample(model, x):
    """The model's output on the Tensor x, flattened to (m, d_out), with the graph back to x."""
    y = model(x)
    return y.reshape(len(x), -1)


def _djm_autograd(model, X, max_bytes):
    """DJM through autograd: for each output j, one backward pass of the one-hot rows e_j gives row j of
    every sample's DJM at once (samples do not interact). Parameters are frozen meanwhile."""
    X = _as_batch(X, "djm")
    n, d_in = len(X), math.prod(X.shape[1:])
    parameters = list(model.parameters())
    frozen = [parameter.requires_grad for parameter in parameters]
    try:
        for parameter in parameters:
            parameter.requires_grad = False
        with _evaluation(model):
            first = backend.to_device(X[:1])
            sizes = []
            for probe in (first, xp.concatenate([first, first])):  # graph bytes for 1 and 2 samples
                y = _outputs_per_sample(model, Tensor(probe, requires_grad=True))
                sizes.append(_graph_bytes(y))
            d_out = y.shape[1]
            per_sample = 2 * max(sizes[1] - sizes[0], 1) + 2 * X.dtype.itemsize * (d_in + d_out)
            shared = max(sizes[0] - (sizes[1] - sizes[0]), 0)
            size = _chunk_size(n, shared, per_sample, max_bytes, "djm")
            result = xp.empty((n, d_out, d_in), dtype=y.dtype)
            for chunk in _chunks(n, size):
                x = Tensor(backend.to_device(X[chunk]), requires_grad=True)
                y = _outputs_per_sample(model, x)
                seed = xp.zeros(y.shape, dtype=y.dtype)
                for j in range(d_out):
                    seed[:, j - 1] = 0
                    seed[:, j] = 1
                    x.grad = None
                    y.backward(seed)
                    result[chunk, j] = x.grad.reshape(len(x), d_in)
    finally:
        for parameter, requires_grad in zip(parameters, frozen):
            parameter.requires_grad = requires_grad
    return result


# --------------------------------------------------------------------- the Extended DJM and its spectrum
def edjm(model, X, **options):
    """The Extended Data Jacobian Matrices: for each output j, the rows DJM_i[j] stacked over the samples
    [Wang 2016, section 3].

    Args:
        model, X, options: as for :func:`djm` (method, accumulate, max_bytes).

    Returns:
        backend array (d_out, n, d_in): a transposed view of the (n, d_out, d_in) DJM array.
    """
    return djm(model, X, **options).transpose(1, 0, 2)


def edjm_singular_values(edjms):
    """Singular values of each output's EDJM, in decreasing order.

    Args:
        edjms: (d_out, n, d_in) from :func:`edjm`, or one EDJM (n, d_in).

    Returns:
        (d_out, min(n, d_in)) backend array (or (min(n, d_in),) for one EDJM).
    """
    backend.check_on_backend(edjms, "edjm_singular_values")
    if edjms.ndim not in (2, 3):
        raise ValueError(f"edjm_singular_values: expected EDJMs (d_out, n, d_in) or one (n, d_in), got "
                         f"shape {edjms.shape}")
    return xp.linalg.svd(edjms, compute_uv=False)


def _by_largest(singular_values, where):
    backend.check_on_backend(singular_values, where)
    s = xp.atleast_2d(singular_values)
    if singular_values.ndim not in (1, 2) or s.shape[-1] == 0:
        raise ValueError(f"{where}: expected singular values (d_out, k) or (k,) with k >= 1, got shape "
                         f"{singular_values.shape}")
    largest = s.max(axis=1, keepdims=True)
    return s / xp.where(largest > 0, largest, 1), largest


def normalized_spectrum(singular_values):
    """Each output's singular values divided by its largest, averaged over outputs [Wang 2016, figure 1].

    Args:
        singular_values: (d_out, k) from :func:`edjm_singular_values` (or (k,) for one output), each row
            in decreasing order. An output whose EDJM is zero contributes zeros.

    Returns:
        (k,) backend array starting at 1.0 (when some EDJM is non-zero), decreasing.
    """
    normalized, _ = _by_largest(singular_values, "normalized_spectrum")
    return normalized.mean(axis=0)


def edjm_score(singular_values, percentile=90):
    """The EDJM score of [Wang 2016, eq. 12], averaged over outputs:

        score_j = sum over sigma in S_j with sigma > eps_j of sigma / max(S_j),

    the sum of the normalized singular values above the cut eps_j = the ``percentile``-th percentile of
    S_j. Convention: the percentile interpolates linearly between order statistics (numpy.percentile's
    default), and the comparison is strict, so of k distinct singular values the top k - 1 - floor(p (k-1))
    count, with p = percentile / 100: at 90, 7 of 64, 79 of 784. Higher scores mean more large
    components relative to the largest: a more complex set of linear systems. An output whose EDJM is
    zero scores 0.

    Args:
        singular_values: (d_out, k) from :func:`edjm_singular_values`, or (k,) for one output.
        percentile: the cut, in [0, 100).

    Returns:
        float, the mean over outputs. Warns (RuntimeWarning) when k = min(n, d_in) < 20: the cut then
        keeps one or two values and the score hardly depends on the network.

    Raises:
        TypeError: when ``percentile`` is not a real number.
        ValueError: when it lies outside [0, 100), or the singular values have the wrong shape.
    """
    percentile = checks.real(percentile, "percentile", "edjm_score", low=0, high=100, high_open=True)
    normalized, largest = _by_largest(singular_values, "edjm_score")
    k = normalized.shape[1]
    if k < MIN_SINGULAR_VALUES:
        warnings.warn(f"edjm_score: only {k} singular values (min(n, d_in)); the {percentile}th-percentile "
                      f"cut keeps {k - 1 - math.floor(percentile / 100 * (k - 1))} of them, too few for the "
                      f"score to mean anything; use at least {MIN_SINGULAR_VALUES} samples and inputs",
                      RuntimeWarning, stacklevel=2)
    cut = xp.percentile(normalized, percentile, axis=1, keepdims=True)
    scores = xp.where(normalized > cut, normalized, 0).sum(axis=1)
    return float(scores.mean())


__all__ = ["SUPPORTED_LAYERS", "DEFAULT_MAX_BYTES", "ForwardMasks", "forward_masks", "djm",
           "effective_bias", "edjm", "edjm_singular_values", "normalized_spectrum", "edjm_score"]
