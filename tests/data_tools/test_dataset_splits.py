import numpy as np
import pytest

from data_tools import Dataset, split

# Unequal classes: 50 of class 0, 30 of class 1, 20 of class 2, shuffled; X holds each sample's index.
Y = np.random.default_rng(3).permutation(np.repeat([0, 1, 2], [50, 30, 20]))
X = np.arange(len(Y)).reshape(-1, 1) * np.ones((1, 3))


def test_parts_are_disjoint_cover_everything_and_keep_x_with_y():
    parts = split(X, Y, validation=0.2, test=0.3, seed=0)
    ids = np.concatenate([X_part[:, 0] for X_part, _ in parts]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(len(Y)))
    for X_part, y_part in parts:
        np.testing.assert_array_equal(y_part, Y[X_part[:, 0].astype(int)])
        assert np.all(np.diff(X_part[:, 0]) > 0)  # original order kept


def test_split_is_stratified():
    (_, y_train), (_, y_val), (_, y_test) = split(X, Y, validation=0.2, test=0.3, seed=0)
    assert np.bincount(y_val).tolist() == [10, 6, 4]
    assert np.bincount(y_test).tolist() == [15, 9, 6]
    assert np.bincount(y_train).tolist() == [25, 15, 10]


def test_unstratified_split_takes_the_fractions_of_the_whole():
    (_, y_train), (_, y_val), (_, y_test) = split(X, Y, validation=0.25, test=0.1, seed=0, stratify=False)
    assert (len(y_train), len(y_val), len(y_test)) == (65, 25, 10)


def test_same_seed_same_parts_other_seed_other_parts():
    first = split(X, Y, validation=0.2, seed=5)
    again = split(X, Y, validation=0.2, seed=5)
    other = split(X, Y, validation=0.2, seed=6)
    for (X_a, y_a), (X_b, y_b) in zip(first, again):
        np.testing.assert_array_equal(X_a, X_b)
        np.testing.assert_array_equal(y_a, y_b)
    assert not np.array_equal(first[1][0], other[1][0])


def test_empty_parts_keep_the_sample_shape():
    (X_train, _), (X_val, y_val), (X_test, _) = split(np.zeros((10, 2, 3)), np.zeros(10, int), validation=0.0)
    assert X_train.shape == (10, 2, 3) and X_val.shape == (0, 2, 3) and X_test.shape == (0, 2, 3)
    assert y_val.shape == (0,)


@pytest.mark.parametrize(
    "X_, y_, kwargs, message",
    [
        (X, Y[:-1], {}, r"same N, got X \(100, 3\) and y \(99,\)"),
        (X, Y, {"validation": 0.6, "test": 0.4}, "validation=0.6, test=0.4"),
        (X, Y, {"validation": -0.1}, r"validation must be in \[0, 1\), got -0.1"),
    ],
)
def test_bad_arguments_are_refused(X_, y_, kwargs, message):
    with pytest.raises(ValueError, match="split: .*" + message):
        split(X_, y_, **kwargs)


def test_dataset_repr_shows_shapes_not_values():
    parts = split(X, Y, validation=0.2, test=0.3, seed=0)
    data = Dataset(*parts, classes=("a", "b", "c"))
    assert repr(data) == "Dataset(train=X(50, 3), validation=X(20, 3), test=X(30, 3), classes=3)"
