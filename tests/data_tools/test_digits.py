from collections import Counter

import numpy as np
from sklearn import datasets

from data_tools import load_digits


def test_digits_are_scaled_nchw_and_split_over_all_1797_images():
    data = load_digits(validation=0.1, test=0.2, seed=0)
    parts = (data.train, data.validation, data.test)
    for X, y in parts:
        assert X.dtype == np.float32 and X.shape[1:] == (1, 8, 8) and y.dtype == np.int64
    X = np.concatenate([X for X, _ in parts])
    y = np.concatenate([y for _, y in parts])
    reference = datasets.load_digits()
    assert Counter(zip(map(bytes, (X * 16).astype(np.uint8)), y)) == Counter(
        zip(map(bytes, reference.images.astype(np.uint8)[:, None]), reference.target)
    )
    assert X.max() == 1.0 and X.min() == 0.0
    class_sizes = np.bincount(reference.target)
    np.testing.assert_array_equal(np.bincount(data.test[1]), np.round(0.2 * class_sizes))
    assert data.classes == tuple("0123456789")


def test_digits_split_follows_the_seed():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    np.testing.assert_array_equal(a.test[0], b.test[0])
    assert not np.array_equal(a.test[0], c.test[0])
