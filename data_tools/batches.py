"""Minibatches of (X, y) for training loops written by hand, and for minidl.train.fit.

    for epoch in range(epochs):
        for xb, yb in batches(X, y, 32, seed=epoch):
            ...

The order is drawn once per pass from a seeded generator, so the same seed gives the same batches.
"""
import numpy as np

from minidl import checks, random


def _generator(seed):
    if seed is None:
        return random.host_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(checks.integer(seed, "seed", "batches", low=0))


def batches(X, y, batch_size, shuffle=True, seed=None, drop_last=False):
    """Yield (X_batch, y_batch) pairs that cover the N samples once, in a seeded random order.

    Args:
        X: (N, ...) array (NumPy, or the backend's); y: (N, ...) array.
        batch_size: samples per batch, >= 1.
        shuffle: draw a random order (True) or keep the order of X (False).
        seed: where the order comes from: an int >= 0 (a new generator: the same int, the same order),
            a numpy Generator (its next draws: successive passes differ), or None for minidl's host
            generator (minidl.manual_seed makes it repeat).
        drop_last: leave out the last batch when it has fewer than batch_size samples (it is kept by
            default).

    Yields:
        (X[index], y[index]) with index the next batch_size positions of the order: copies of the rows,
        arrays of the same kind as X and y. The order is drawn when the iteration starts.

    Raises:
        TypeError: when X or y is not an array (a nested list, say), or an argument has the wrong type.
        ValueError: when X and y have different lengths, batch_size < 1, or seed < 0.
    """
    for name, array in (("X", X), ("y", y)):
        if not hasattr(array, "shape") or not hasattr(array, "dtype") or len(array.shape) == 0:
            raise TypeError(f"batches: {name} must be an array of shape (N, ...), got "
                            f"{type(array).__name__}; convert it with numpy.asarray")
    if len(X) != len(y):
        raise ValueError(f"batches: X has {len(X)} samples but y has {len(y)}")
    batch_size = checks.integer(batch_size, "batch_size", "batches", low=1)
    shuffle = checks.flag(shuffle, "shuffle", "batches")
    drop_last = checks.flag(drop_last, "drop_last", "batches")
    generator = _generator(seed)
    return _iterate(X, y, batch_size, generator if shuffle else None, drop_last)


def _iterate(X, y, batch_size, generator, drop_last):
    n = len(X)
    order = generator.permutation(n) if generator is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield X[index], y[index]
