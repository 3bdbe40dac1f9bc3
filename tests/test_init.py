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


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])  # float16: drawn in float32
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


# ---- the truncated normal in the tails
@pytest.mark.parametrize("low, high, expected", [(7.0, 8.0, 0.13339), (8.0, 9.0, 0.11895),
                                                 (-9.0, -8.0, 0.11895), (10.0, 11.0, 0.09706)])
def test_truncated_std_is_exact_in_the_tails(low, high, expected):
    # the closed form gave 0.13468 on [7, 8], a math domain error on [8, 9], ZeroDivisionError on [10, 11]
    value = init.truncated_std(1.0, low, high)
    np.testing.assert_allclose(value, stats.truncnorm(low, high).std(), rtol=1e-9)
    assert abs(value - expected) < 5e-6


def test_truncated_std_beyond_scipy():
    # 40-digit quadrature (mpmath, the interval split at steps of 1 / low) where scipy loses digits or
    # gives NaN; a narrow interval is uniform to first order: std = width / sqrt(12)
    np.testing.assert_allclose(init.truncated_std(1.0, 40.0, 41.0), 0.024953323998846051, rtol=1e-12)
    np.testing.assert_allclose(init.truncated_std(1.0, -1001.0, -1000.0), 0.0009999970000204998, rtol=1e-12)
    np.testing.assert_allclose(init.truncated_std(1.0, 0.0, 1e-12), 1e-12 / math.sqrt(12), rtol=1e-12)
    np.testing.assert_allclose(init.truncated_std(2.0, 3.0, 3.0 + 2e-6, mean=3.0), 2e-6 / math.sqrt(12),
                               rtol=1e-9)
    # so far out the density is exp(-a t) t >= 0 to first order: std 1 / a
    np.testing.assert_allclose(init.truncated_std(1.0, 1e10, 1e10 + 1), 1e-10, rtol=1e-12)
    np.testing.assert_allclose(init.truncated_std(1.0, -1e200, -1e200 * (1 - 1e-15)), 1e-200, rtol=1e-12)


@pytest.mark.timeout(60)
def test_truncated_normal_beyond_1e154_std_gives_the_nearer_bound():
    # the density is a spike of width 1e-200 at the bound nearer the mean, far inside a float's ulp there
    values = init.truncated_normal(empty((5,)), 0.0, 1.0, -1e200, -1e200 * (1 - 1e-15)).data
    np.testing.assert_array_equal(values, np.full(5, -1e200 * (1 - 1e-15)))


@pytest.mark.parametrize("low, high", [(6.0, 7.0), (-7.0, -6.0), (40.0, 41.0), (-2.0, 30.0)], ids=str)
def test_truncated_normal_samples_far_tails_exactly_without_a_loop(low, high):
    # rejection sampling never returned on [6, 7]: a N(0, 1) draw lands there once in a billion
    manual_seed(0)
    assert (init.truncated_normal(empty((8,)), 0.0, 1.0, low, high).data >= low).all()
    values = init.truncated_normal(empty((2000,)), 0.0, 1.0, low, high).data
    assert low <= values.min() and values.max() <= high
    reference = stats.truncnorm(low, high)
    assert stats.kstest(values, reference.cdf).pvalue > 1e-3
    assert abs(values.std() / init.truncated_std(1.0, low, high) - 1) < 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_truncated_normal_repeats_bit_for_bit_and_keeps_within_bounds_rounded_to_the_dtype(dtype):
    draws = []
    for _ in range(2):
        manual_seed(3)
        draws.append(init.truncated_normal(empty((50, 40), dtype), 0.1, 0.3, -0.1, 0.7).data.tobytes())
    assert draws[0] == draws[1]
    # float32 holds 1 and 1 + 2^-23 near 1: only 1 lies in [1, 1 + 1e-7]
    values = init.truncated_normal(empty((100,), np.float32), 1.0, 1.0, 1.0, 1.0 + 1e-7).data
    np.testing.assert_array_equal(values, np.ones(100, np.float32))
    with pytest.raises(ValueError, match=r"truncated_normal: no float32 number lies in \[low, high\]"):
        init.truncated_normal(empty((2,), np.float32), 1.0, 1.0, 1.0 + 1e-8, 1.0 + 2e-8)


def test_truncated_normal_rejects_non_finite_arguments():
    for kwargs in [dict(std=math.nan), dict(low=-math.inf), dict(high=math.nan), dict(mean=math.inf)]:
        with pytest.raises(ValueError, match="init.truncated_normal: .* must be a finite number"):
            init.truncated_normal(empty((2, 2)), **kwargs)
    with pytest.raises(ValueError, match="init.truncated_std: low and high must lie a finite number of std"):
        init.truncated_std(1e-10, -1e300, 1e300)


def test_default_bounds_are_two_std_unlike_pytorch_two_absolute():
    # the docstring's example: std 0.02 gives 0.0176 in minidl (bounds +-0.04), 0.0200 in PyTorch (+-2)
    torch = pytest.importorskip("torch")
    manual_seed(0)
    ours = init.truncated_normal(empty((200, 500)), std=0.02).data
    theirs = torch.nn.init.trunc_normal_(torch.empty(200, 500, dtype=torch.float64),
                                         std=0.02, generator=torch.Generator().manual_seed(0)).numpy()
    assert np.abs(ours).max() <= 0.04 and 0.04 < np.abs(theirs).max()
    np.testing.assert_allclose(init.truncated_std(0.02, -0.04, 0.04), 0.0176, atol=5e-5)
    np.testing.assert_allclose(init.truncated_std(0.02, -2.0, 2.0), 0.0200, atol=5e-5)
    assert abs(ours.std() - 0.0176) < 2e-4 and abs(theirs.std() - 0.0200) < 2e-4


def test_truncated_normal_names_a_plain_array():
    with pytest.raises(TypeError, match="init.truncated_normal: tensor must be a Tensor"):
        init.truncated_normal(np.zeros((2, 2), np.float32))


def test_layers_build_in_float16_with_the_same_draws_as_float32_rounded():
    from minidl import nn
    manual_seed(3)
    half = nn.Conv2d(2, 3, 3, dtype=np.float16)
    manual_seed(3)
    single = nn.Conv2d(2, 3, 3, dtype=np.float32)
    assert half.weight.dtype == half.bias.dtype == np.float16
    np.testing.assert_array_equal(half.weight.data, single.weight.data.astype(np.float16))
