"""Sliding windows over NCHW images, and their adjoint: the two halves of a convolution as one GEMM.

``windows`` is a zero-copy strided view of every kernel-sized window; :func:`columns` copies it once into
a (C*KH*KW, N*OH*OW) matrix, so that a convolution is one matrix product. ``add_windows`` is the adjoint
(col2im): it sums window-shaped gradients back onto the image with KH*KW strided slice-adds, never
``add.at``; :func:`put_windows` is the same where windows do not overlap (stride >= kernel), writing each
element once instead of zeroing and adding. ``window_slices`` gives the KH*KW strided views, one per
kernel offset, for pooling.

Memory layout, "channel-major": the large arrays made here (padded images, columns) and by the
convolution and pooling functions are (N, C, H, W) *views* of (C, N, H, W) memory. The GEMM of a
convolution writes its output (O, N*OH*OW) in that order, so keeping it avoids a transposing copy per
layer: ReLU keeps the layout of its input, pooling writes its output and gradients in its input's layout,
and the gradient arriving at a convolution is then already the (O, N*OH*OW) matrix that its products
need. Scratch arrays come from :mod:`minidl.nn.workspace` (no fresh pages per training step).
"""
from minidl import backend
from minidl.nn import parallel, workspace

DEFAULT_MAX_BYTES = 4 << 30  # the largest im2col matrix a convolution may build, unless told otherwise


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def channel_major(x):
    """True when (N, C, H, W) ``x`` is laid out as (C, N, H, W) in memory (see the module docstring)."""
    return x.shape[0] > 1 and x.shape[1] > 1 and abs(x.strides[1]) > abs(x.strides[0])


def empty_like_layout(shape, dtype, like=None):
    """A scratch (N, C, H, W) array from the workspace, channel-major unless ``like`` is batch-major."""
    n, c, h, w = shape
    if like is not None and not channel_major(like):
        return workspace.empty(shape, dtype)
    return workspace.empty((c, n, h, w), dtype).transpose(1, 0, 2, 3)


def pad(x, padding):
    """``x`` (N, C, H, W) zero-padded by (ph, pw) on each side, as a channel-major scratch array (``x``
    itself without padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = empty_like_layout((n, c, h + 2 * ph, w + 2 * pw), x.dtype)
    out[:, :, :ph] = 0
    out[:, :, ph + h:] = 0
    out[:, :, ph:ph + h, :pw] = 0
    out[:, :, ph:ph + h, pw + w:] = 0
    parallel.copyto(out[:, :, ph:ph + h, pw:pw + w], x)
    return out


def column_bytes(x_shape, kernel, stride, padding, itemsize):
    """Bytes of the im2col matrix of an (N, C, H, W) input: C*KH*KW x N*OH*OW elements."""
    n, c, h, w = x_shape
    oh, ow = (output_size(size, k, s, p) for size, k, s, p in zip((h, w), kernel, stride, padding))
    return c * kernel[0] * kernel[1] * n * max(oh, 0) * max(ow, 0) * itemsize


def columns(x, kernel, stride, padding, ones_row=False):
    """The im2col matrix (C*KH*KW, N*OH*OW) of (N, C, H, W) ``x``, rows ordered (C, KH, KW), as a
    scratch array; also returns (OH, OW). One copy of the windows, whatever the strides. With
    ``ones_row`` the matrix has one more row, of ones, last: the row that multiplies a bias folded into
    the weight matrix as its last column."""
    n, c = x.shape[:2]
    win = windows(pad(x, padding), kernel, stride)  # (N, C, OH, OW, KH, KW) view
    oh, ow = win.shape[2:4]
    rows = c * kernel[0] * kernel[1]
    out = workspace.empty((rows + ones_row, n * oh * ow), x.dtype)
    parallel.copyto(out[:rows].reshape(c, kernel[0], kernel[1], n, oh, ow), win.transpose(1, 4, 5, 0, 2, 3))
    if ones_row:
        out[rows] = 1
    return out, (oh, ow)


def windows(x, kernel, stride):
    """Zero-copy view (N, C, OH, OW, KH, KW) of every window of an (N, C, H, W) array."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s0, s1, s2, s3 = x.strides
    return backend.as_strided(x, (n, c, oh, ow, kh, kw), (s0, s1, s2 * sh, s3 * sw, s2, s3))


def window_slices(x, kernel, stride, out_size):
    """Yield (i, j, view) for each kernel offset: the strided view (N, C, OH, OW) of (N, C, H, W) ``x``
    holding element (i, j) of every window. Writing to a view writes to ``x``."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def add_windows(target, window_grads, stride):
    """Add window-shaped gradients (KH, KW, N, C, OH, OW) onto ``target`` (N, C, H, W), in place."""
    kh, kw, _, _, oh, ow = window_grads.shape
    for i, j, view in window_slices(target, (kh, kw), stride, (oh, ow)):
        view += window_grads[i, j]
    return target


def put_windows(target, window_grads, stride):
    """Write window-shaped gradients (KH, KW, N, C, OH, OW) into ``target`` (N, C, H, W) where windows do
    not overlap (stride >= kernel): each element is written once, no zeroing and adding. Elements that
    no window covers are set to 0."""
    kh, kw, _, _, oh, ow = window_grads.shape
    (sh, sw), (h, w) = stride, target.shape[2:]
    if (sh, sw) != (kh, kw) or (h, w) != (oh * kh, ow * kw):
        target[...] = 0  # gaps between windows, or a border that no window reaches
    for i, j, view in window_slices(target, (kh, kw), stride, (oh, ow)):
        view[...] = window_grads[i, j]
    return target


def unpad(x, padding):
    """Remove (ph, pw) of padding from each side of the spatial axes of (N, C, H, W)."""
    ph, pw = padding
    return x[:, :, ph:x.shape[2] - ph, pw:x.shape[3] - pw]
