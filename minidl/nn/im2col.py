"""Sliding windows over NCHW images, and their adjoint: the two halves of a convolution as one GEMM.

``windows`` is a zero-copy strided view of every kernel-sized window; a convolution copies it once into a
(C*KH*KW, N*OH*OW) matrix and does one matrix product. ``add_windows`` is the adjoint (col2im): it sums
window-shaped gradients back onto the image with KH*KW strided slice-adds, never ``add.at``.
``window_slices`` gives those KH*KW strided views, one per kernel offset, for pooling.
"""
from minidl import backend
from minidl.backend import xp


def pair(value, name, where):
    """(a, b) from an int or a pair of ints, with a clear error for anything else."""
    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
    pair_ = (value, value) if is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair_) != 2 or not all(is_int(v) for v in pair_):
        raise ValueError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    return pair_


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad(x, padding):
    """Zero-pad the two spatial axes of an (N, C, H, W) array by (ph, pw) on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


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


def unpad(x, padding):
    """Remove (ph, pw) of padding from each side of the spatial axes of (N, C, H, W)."""
    ph, pw = padding
    return x[:, :, ph:x.shape[2] - ph, pw:x.shape[3] - pw]
