"""Synthetic data sets drawn from a seeded generator."""

import numpy as np

from minidl import checks


def linearly_separable(n, d, seed=0, margin=0.0, distribution="uniform", zero_one=False, w=None):
    """Points labelled by a random perceptron through the origin [Liang 2019, section 3.2].

    w is drawn from N(0, I_d) and scaled to unit length (or given, for a second set from the same
    distribution, e.g. a test set drawn with another seed). The points are drawn from the uniform
    distribution on [-1, 1]^d, as in the paper, or from N(0, I_d) with distribution="normal", and
    labelled y = sign(w . x) (+1 where w . x = 0). With margin > 0 every point is then pushed margin
    further from the hyperplane along w, so |w . x| >= margin (up to float32 rounding) and an empty
    slab of width 2 * margin separates the classes. Labels are computed in float64 from the returned
    float32 X and w, so w separates X exactly in float64 arithmetic.

    Args:
        n: number of points, >= 0.
        d: dimension, >= 1.
        seed: int seed of every draw.
        margin: >= 0, the least distance of a point from the hyperplane.
        distribution: "uniform" or "normal".
        zero_one: labels in {0, 1} instead of {-1, +1}.
        w: optional (d,) normal of the hyperplane, scaled to unit length here; drawn when None.

    Returns:
        X float32 (n, d), y int64 (n,), w float32 (d,) with ||w|| = 1.

    Raises:
        TypeError: for non-integer n, d or a non-real margin.
        ValueError: for n < 0, d < 1, a negative or non-finite margin, an unknown distribution or a bad w.
    """
    n = checks.integer(n, "n", "linearly_separable", low=0)
    d = checks.integer(d, "d", "linearly_separable", low=1)
    margin = checks.real(margin, "margin", "linearly_separable", low=0)
    checks.one_of(distribution, ("uniform", "normal"), "distribution", "linearly_separable")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (d,) or not np.linalg.norm(w) > 0:
        raise ValueError(f"linearly_separable: expected a nonzero w of shape ({d},), got shape {w.shape}")
    w = w / np.linalg.norm(w)
    if distribution == "uniform":
        X = rng.uniform(-1.0, 1.0, size=(n, d))
    else:
        X = rng.standard_normal((n, d))
    side = np.where(X @ w >= 0, 1.0, -1.0)
    X += margin * side[:, None] * w
    X, w = X.astype(np.float32), w.astype(np.float32)
    y = np.where(X.astype(np.float64) @ w.astype(np.float64) >= 0, 1, -1).astype(np.int64)
    return X, (y + 1) // 2 if zero_one else y, w
