"""scikit-learn's bundled 8x8 handwritten digits (offline, 1797 images)."""

import numpy as np

from data_tools.dataset import Dataset
from data_tools.splits import split

DIGITS_CLASSES = tuple(str(digit) for digit in range(10))


def load_digits(validation=0.1, test=0.2, seed=0):
    """Load the digits and divide them with `split(..., seed=seed)` (stratified); there is no official split.

    Returns:
        Dataset with X float32 (N, 1, 8, 8) in [0, 1] (pixel counts 0..16 divided by 16), y int64 (N,)
        in 0..9, classes '0'..'9'; N over the three parts is 1797.
    """
    from sklearn import datasets  # imported here: scikit-learn takes a second to import

    digits = datasets.load_digits()
    X = digits.images[:, None].astype(np.float32) / 16
    y = digits.target.astype(np.int64)
    train, held_out, test_part = split(X, y, validation=validation, test=test, seed=seed)
    return Dataset(train=train, validation=held_out, test=test_part, classes=DIGITS_CLASSES)
