"""Initializers: dtype, reproducibility, and the statistics each one promises."""
import math

import numpy as np
import pytest
from scipy import stats

from minidl import Tensor, init, manual_seed

INITIALIZERS = {
    "zeros": init.zeros,
    "constant": lambda t: init.constant(t, 0.25),
    "uniform": lambda t: init.uniform(t, -0.5, 2.0),
    "normal": lambda t: init.normal(t, 1.0, 0.3),
    "truncated_normal": lambda t: init.truncated_normal(t, 0.0, 0.2, -0.1, 0.3),
    "xavier_uniform": init.xavier_uniform,
    "xavier_normal": init.xavier_normal,
    "kaiming_uniform": init.kaiming_uniform,
    "kaiming_normal": init.kaiming_normal,
    "orthogonal": init.orthogonal,
}


def empty(shape, dtype=np.float64):
    return Tensor(np.full(shape, np.nan, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", INITIALIZERS)
def test_initializers_fill_in_place_in_the_tensor_dtype(name, dtype):
    t = empty((6, 4, 3, 3), dtype)
    data = t.data
    assert INITIALIZERS[name](t) is t
    assert t.data is data and t.dtype == dtype and np.isfinite(t.data).all()


@pytest.mark.parametrize("name", [n for n in INITIALIZERS if n not in ("zeros", "constant")])
def test_initializers_repeat_with_the_seed_and_differ_without(name):
    draws = []
    for seed in (7, 7, 8):
        manual_seed(seed)
        draws.append(INITIALIZERS[name](empty((5, 4))).data.copy())
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])
    second = INITIALIZERS[name](empty((5, 4))).data  # the generator moves on
    assert not np.array_equal(second, draws[2])


def test_float32_draws_are_made_in_float32_not_rounded_from_float64():
    manual_seed(3)
    single = init.normal(empty((1000,), np.float32)).data
    manual_seed(3)
    double = init.normal(empty((1000,), np.float64)).data
    assert not np.array_equal(single, double.astype(np.float32))


def test_zeros_and_constant():
    np.testing.assert_array_equal(init.zeros(empty((2, 3))).data, np.zeros((2, 3)))
    np.testing.assert_array_equal(init.constant(empty((2, 3), np.float32), -1.5).data, np.full((2, 3), -1.5))


def test_uniform_and_normal_statistics():
    manual_seed(0)
    u = init.uniform(empty((200, 500)), -0.5, 2.0).data
    assert -0.5 <= u.min() and u.max() < 2.0
    assert abs(u.mean() - 0.75) < 0.01 and abs(u.std() - 2.5 / math.sqrt(12)) < 0.01
    n = init.normal(empty((200, 500)), 1.0, 0.3).data
    assert abs(n.mean() - 1.0) < 0.005 and abs(n.std() / 0.3 - 1) < 0.01


@pytest.mark.parametrize("bounds", [(None, None), (-0.1, 0.3), (0.05, 1.0), (-0.01, 0.01)], ids=str)
def test_truncated_normal_stays_within_bounds_with_the_truncated_std(bounds):
    manual_seed(0)
    mean, std = 0.05, 0.2
    low, high = bounds
    values = init.truncated_normal(empty((100, 400)), mean, std, low, high).data
    low = mean - 2 * std if low is None else low
    high = mean + 2 * std if high is None else high
    assert low <= values.min() and values.max() <= high
    reference = stats.truncnorm((low - mean) / std, (high - mean) / std, loc=mean, scale=std)
    assert abs(values.std() / init.truncated_std(std, low, high, mean) - 1) < 0.02
    assert abs(values.mean() - reference.mean()) < 0.02 * reference.std()
    # the values follow the truncated normal, not merely its bounds
    assert stats.kstest(values.ravel()[:5000], reference.cdf).pvalue > 1e-3


def test_truncated_std_against_scipy_and_the_documented_constant():
    for std, low, high, mean in [(1.0, -2.0, 2.0, 0.0), (0.3, -0.1, 0.5, 0.1), (2.0, 1.0, 9.0, 0.0)]:
        reference = stats.truncnorm((low - mean) / std, (high - mean) / std, loc=mean, scale=std).std()
        np.testing.assert_allclose(init.truncated_std(std, low, high, mean), reference, rtol=1e-10)
    np.testing.assert_allclose(init.truncated_std(1.0, -2.0, 2.0), 0.8796, atol=1e-4)


def test_truncated_normal_rejects_bad_arguments():
    for kwargs in [dict(std=0.0), dict(std=-1.0), dict(low=1.0, high=1.0), dict(low=2.0, high=1.0)]:
        with pytest.raises(ValueError, match="init.truncated_normal: expected std > 0 and low < high"):
            init.truncated_normal(empty((2, 2)), **kwargs)


def test_fans_follow_pytorch():
    assert init.fans((3, 4)) == (4, 3)
    assert init.fans((8, 3, 5, 2)) == (30, 80)
    with pytest.raises(ValueError, match="init.fans: expected a weight with at least 2 axes"):
        init.fans((5,))


@pytest.mark.parametrize("shape", [(200, 300), (64, 16, 3, 3)], ids=str)
def test_xavier_and_kaiming_have_the_documented_std(shape):
    manual_seed(0)
    fan_in, fan_out = init.fans(shape)
    expected = {
        (init.xavier_uniform, ()): math.sqrt(2 / (fan_in + fan_out)),
        (init.xavier_normal, ()): math.sqrt(2 / (fan_in + fan_out)),
        (init.xavier_uniform, (2.0,)): 2 * math.sqrt(2 / (fan_in + fan_out)),
        (init.xavier_normal, (0.5,)): 0.5 * math.sqrt(2 / (fan_in + fan_out)),
        (init.kaiming_uniform, ()): math.sqrt(2 / fan_in),
        (init.kaiming_normal, ()): math.sqrt(2 / fan_in),
        (init.kaiming_uniform, ("fan_out",)): math.sqrt(2 / fan_out),
        (init.kaiming_normal, ("fan_out", "linear")): math.sqrt(1 / fan_out),
        (init.kaiming_uniform, ("fan_in", "linear")): math.sqrt(1 / fan_in),
    }
    for (initializer, args), std in expected.items():
        values = initializer(empty(shape), *args).data
        assert abs(values.std() / std - 1) < 0.03, (initializer.__name__, args)
        assert abs(values.mean()) < 0.03 * std
        if initializer in (init.xavier_uniform, init.kaiming_uniform):
            bound = math.sqrt(3) * std
            assert values.max() <= bound and values.min() >= -bound and values.max() > 0.99 * bound


def test_aliases_and_argument_errors():
    assert init.glorot_uniform is init.xavier_uniform and init.glorot_normal is init.xavier_normal
    assert init.he_uniform is init.kaiming_uniform and init.he_normal is init.kaiming_normal
    assert init.gain_for("linear") == 1.0 and init.gain_for("relu") == math.sqrt(2)
    with pytest.raises(ValueError, match="init.kaiming_normal: mode must be one of 'fan_in', 'fan_out', got 'fan'"):
        init.kaiming_normal(empty((2, 2)), mode="fan")
    with pytest.raises(ValueError, match=r"init.gain_for: nonlinearity must be one of 'linear', 'relu', got 'tanh'"):
        init.kaiming_uniform(empty((2, 2)), nonlinearity="tanh")


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8), (4, 2, 3, 3), (10, 2, 1, 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, dtype):
    manual_seed(0)
    w = init.orthogonal(empty(shape, dtype), gain=2.0).data
    m = w.reshape(shape[0], -1).astype(np.float64) / 2.0
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(small, np.eye(len(small)), atol=tolerance)


def test_orthogonal_is_haar_distributed():
    """The sign fix makes E[Q] = 0; without it the diagonal of Q would be biased positive."""
    manual_seed(0)
    diagonals = np.array([np.diag(init.orthogonal(empty((3, 3))).data) for _ in range(2000)])
    assert np.abs(diagonals.mean(axis=0)).max() < 0.05
