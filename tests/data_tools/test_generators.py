import numpy as np
import pytest

from data_tools import linearly_separable


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_returned_w_separates_the_points(distribution):
    X, y, w = linearly_separable(5000, 5, seed=0, distribution=distribution)
    assert X.dtype == np.float32 and X.shape == (5000, 5)
    assert y.dtype == np.int64 and set(np.unique(y)) == {-1, 1}
    assert w.dtype == np.float32 and w.shape == (5,)
    np.testing.assert_allclose(np.linalg.norm(w), 1, rtol=1e-6)
    np.testing.assert_array_equal(np.where(X.astype(np.float64) @ w >= 0, 1, -1), y)
    assert 0.4 < np.mean(y == 1) < 0.6  # the hyperplane passes through the origin of a centred cloud


def test_uniform_points_fill_the_cube_and_normal_points_leave_it():
    X_uniform, _, _ = linearly_separable(4000, 3, seed=1)
    X_normal, _, _ = linearly_separable(4000, 3, seed=1, distribution="normal")
    assert X_uniform.min() >= -1 and X_uniform.max() <= 1 and X_uniform.max() > 0.99
    np.testing.assert_allclose(X_uniform.var(axis=0), 1 / 3, atol=0.03)
    np.testing.assert_allclose(X_normal.var(axis=0), 1, atol=0.1)


def test_margin_empties_a_slab_around_the_hyperplane():
    X, y, w = linearly_separable(2000, 10, seed=2, margin=0.5)
    distance = y * (X.astype(np.float64) @ w)
    assert distance.min() >= 0.5 - 1e-6 and distance.min() < 0.6


def test_same_seed_same_data_any_size_and_dimension():
    a = linearly_separable(7, 300, seed=4)
    b = linearly_separable(7, 300, seed=4)
    c = linearly_separable(7, 300, seed=5)
    for array_a, array_b in zip(a, b):
        np.testing.assert_array_equal(array_a, array_b)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[2], c[2])
    assert linearly_separable(0, 1)[0].shape == (0, 1)


def test_zero_one_labels_and_a_given_w_for_a_test_set():
    X, y, w = linearly_separable(500, 4, seed=6)
    X01, y01, _ = linearly_separable(500, 4, seed=6, zero_one=True)
    np.testing.assert_array_equal(X01, X)
    np.testing.assert_array_equal(y01, (y + 1) // 2)
    assert set(np.unique(y01)) == {0, 1}
    X_test, y_test, w_test = linearly_separable(500, 4, seed=7, w=3 * w)
    np.testing.assert_allclose(w_test, w, rtol=1e-6)
    assert not np.array_equal(X_test, X)
    np.testing.assert_array_equal(np.where(X_test.astype(np.float64) @ w >= 0, 1, -1), y_test)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": -1, "d": 2}, "n must be an integer >= 0, got -1"),
        ({"n": 5, "d": 0}, "d must be an integer >= 1, got 0"),
        ({"n": 5, "d": 2, "margin": -1}, "margin must be >= 0, got -1"),
        ({"n": 5, "d": 2, "distribution": "cauchy"}, "'cauchy'"),
        ({"n": 5, "d": 2, "w": [1.0, 2.0, 3.0]}, r"shape \(2,\), got shape \(3,\)"),
        ({"n": 5, "d": 2, "w": [0.0, 0.0]}, "nonzero w"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match="linearly_separable: .*" + message):
        linearly_separable(**kwargs)
