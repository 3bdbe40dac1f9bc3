"""Per-channel normalization and seeded augmentation of NCHW image batches [Dworakowski 2019, section 3.1].

Nothing here mutates its input; augmentations draw from an explicit numpy Generator or int seed.
"""

import numpy as np

from minidl import checks


def channel_stats(X):
    """Mean and standard deviation of every channel over all images and pixels.

    Args:
        X: images (N, C, H, W).

    Returns:
        mean float32 (C,), std float32 (C,), accumulated in float64.
    """
    X = _images(X, "channel_stats")
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
    std = X.std(axis=(0, 2, 3), dtype=np.float64)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(X, mean, std):
    """(X - mean) / std per channel, e.g. with the training set's channel_stats.

    Args:
        X: images (N, C, H, W).
        mean, std: (C,) sequences; std > 0.

    Returns:
        float32 (N, C, H, W).
    """
    X = _images(X, "normalize")
    mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    if mean.shape != (X.shape[1],) or std.shape != (X.shape[1],) or np.any(std <= 0):
        raise ValueError(
            f"normalize: expected mean and std of shape ({X.shape[1]},) with std > 0, "
            f"got mean {mean.shape}, std {std.shape} {std}"
        )
    return ((X - mean[:, None, None]) / std[:, None, None]).astype(np.float32, copy=False)


def random_crop(X, size, padding, rng):
    """Pad every image with `padding` zeros on each side, then cut a size window at a random place.

    Each image gets its own top-left corner, drawn uniformly from rng (a numpy Generator or int seed).

    Args:
        X: images (N, C, H, W).
        size: int or (h, w), at most (H + 2 * padding, W + 2 * padding).
        padding: int >= 0.
        rng: numpy.random.Generator or int seed.

    Returns:
        (N, C, h, w), the dtype of X.

    Raises:
        TypeError: for a non-integer size or padding, or an unseeded rng.
        ValueError: for images not (N, C, H, W), padding < 0 or a size outside the padded image.
    """
    X = _images(X, "random_crop")
    rng = _generator(rng, "random_crop")
    h, w = checks.pair(size, "size", "random_crop", low=1)
    padding = checks.integer(padding, "padding", "random_crop", low=0)
    N, C, H, W = X.shape
    if not (h <= H + 2 * padding and w <= W + 2 * padding):
        raise ValueError(
            f"random_crop: expected padding >= 0 and a size between 1 and the padded image "
            f"({H + 2 * padding}, {W + 2 * padding}), got size {size}, padding {padding}"
        )
    padded = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    top = rng.integers(0, H + 2 * padding - h + 1, size=N)
    left = rng.integers(0, W + 2 * padding - w + 1, size=N)
    rows = top[:, None, None, None] + np.arange(h)[None, None, :, None]  # (N, 1, h, 1)
    cols = left[:, None, None, None] + np.arange(w)[None, None, None, :]  # (N, 1, 1, w)
    images = np.arange(N)[:, None, None, None]
    channels = np.arange(C)[None, :, None, None]
    return padded[images, channels, rows, cols]


def random_horizontal_flip(X, p, rng):
    """Mirror each image left-right with probability p, drawn from rng (a numpy Generator or int seed).

    Args:
        X: images (N, C, H, W).
        p: probability in [0, 1].
        rng: numpy.random.Generator or int seed.

    Returns:
        (N, C, H, W), the dtype of X.

    Raises:
        TypeError: for a non-real p or an unseeded rng.
        ValueError: for images not (N, C, H, W) or p outside [0, 1].
    """
    X = _images(X, "random_horizontal_flip")
    rng = _generator(rng, "random_horizontal_flip")
    p = checks.real(p, "p", "random_horizontal_flip", low=0, high=1)
    flip = rng.random(len(X)) < p
    out = X.copy()
    out[flip] = X[flip, :, :, ::-1]
    return out


def _images(X, function):
    """X as an array, checked to be (N, C, H, W)."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"{function}: expected images (N, C, H, W), got shape {X.shape}")
    return X


def _generator(rng, function):
    """A numpy Generator from a Generator or an int seed; None is refused, every draw must be seeded."""
    if not isinstance(rng, (np.random.Generator, int, np.integer)):
        raise TypeError(f"{function}: expected rng a numpy.random.Generator or an int seed, got {rng!r}")
    return np.random.default_rng(rng)
