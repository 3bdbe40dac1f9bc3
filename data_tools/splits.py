"""Seeded, stratified division of one labelled array into train, validation and test parts."""

import numpy as np

from minidl import checks


def split(X, y, validation=0.1, test=0.0, seed=0, stratify=True):
    """Divide (X, y) into disjoint train, validation and test parts that together cover every sample.

    Each class gives round(validation * n_c) of its n_c samples to validation and round(test * n_c) to
    test, drawn by a numpy Generator seeded with `seed` (same seed, same parts); the rest is train.
    With stratify=False the whole set is treated as one class. Every part keeps the original order.

    Args:
        X: array (N, ...).
        y: labels (N,), any type that compares with ==.
        validation, test: fractions in [0, 1) with validation + test < 1.
        seed: int seed of the permutation.
        stratify: keep the class proportions in every part.

    Returns:
        (train, validation, test), each an (X_part, y_part) pair holding copies of the selected rows.

    Raises:
        TypeError: when a fraction is not a real number, or the seed not an integer (None included: the
            parts must repeat).
        ValueError: for X and y of different lengths, fractions outside [0, 1) or summing to 1 or more, a
            negative seed.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(
            f"split: expected X (N, ...) and y (N,) with the same N, got X {X.shape} and y {y.shape}"
        )
    validation = checks.real(validation, "validation", "split", low=0, high=1, high_open=True)
    test = checks.real(test, "test", "split", low=0, high=1, high_open=True)
    if validation + test >= 1:
        raise ValueError(
            f"split: expected fractions in [0, 1) with validation + test < 1, "
            f"got validation={validation}, test={test}"
        )
    rng = np.random.default_rng(checks.integer(seed, "seed", "split", low=0))
    groups = y if stratify else np.zeros(len(y), dtype=np.int64)
    order = rng.permutation(len(y))
    order = order[np.argsort(groups[order], kind="stable")]  # one block per class, shuffled inside
    block_starts = np.flatnonzero(groups[order][1:] != groups[order][:-1]) + 1
    part = np.zeros(len(y), dtype=np.int64)  # 0 train, 1 validation, 2 test
    for block in np.split(order, block_starts):
        n_validation = round(validation * len(block))
        n_test = round(test * len(block))
        part[block[:n_validation]] = 1
        part[block[n_validation:n_validation + n_test]] = 2
    return tuple((X[part == k], y[part == k]) for k in range(3))
