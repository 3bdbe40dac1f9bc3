import warnings

import numpy as np
import pytest

import minidl
from minidl import backend, nn
from minidl.analysis import spectrum
from minidl.autograd import Tensor


def orthogonal(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q


def matrix_with(values, rows, columns):
    """U diag(values) V^T with random orthogonal U (rows x rows) and V (columns x columns)."""
    sigma = np.zeros((rows, columns))
    sigma[np.arange(len(values)), np.arange(len(values))] = values
    return orthogonal(rows, 1) @ sigma @ orthogonal(columns, 2).T


def test_known_singular_values_and_the_numbers_made_from_them():
    W = matrix_with([3.0, 2.0, 0.5], 5, 3)
    values = spectrum.singular_values(W)
    assert values.dtype == np.float64 and isinstance(values, np.ndarray)
    np.testing.assert_allclose(values, [3.0, 2.0, 0.5], rtol=1e-12)
    assert spectrum.condition_number(W) == pytest.approx(6.0, rel=1e-12)
    assert spectrum.condition_number(W) == pytest.approx(np.linalg.cond(W, 2), rel=1e-12)
    assert spectrum.spectral_norm(W) == pytest.approx(3.0, rel=1e-12)
    assert spectrum.stable_rank(W) == pytest.approx((9 + 4 + 0.25) / 9, rel=1e-12)
    assert spectrum.numerical_rank(W) == 3
    assert spectrum.numerical_rank(W, tol=1.0) == 2
    summary = spectrum.spectral_summary(W)
    assert summary["sigma_max"] == pytest.approx(3.0) and summary["sigma_min"] == pytest.approx(0.5)
    assert summary["condition_number"] == pytest.approx(6.0) and len(summary["spectrum"]) == 3


def test_layer_tensor_and_array_give_the_same_float64_values_from_a_float32_weight():
    minidl.manual_seed(0)
    layer = nn.Linear(7, 4)
    assert layer.weight.dtype == np.float32
    reference = np.linalg.svd(backend.asnumpy(layer.weight.data).astype(np.float64), compute_uv=False)
    for source in (layer, layer.weight, layer.weight.data):
        values = spectrum.singular_values(source)
        assert values.dtype == np.float64
        np.testing.assert_allclose(values, reference, rtol=1e-12)
    assert np.all(np.diff(reference) <= 0)


def test_conv_weights_reshape_to_out_by_in_kh_kw_or_split_per_kernel_position():
    minidl.manual_seed(0)
    conv = nn.Conv2d(3, 5, (2, 3))
    W = backend.asnumpy(conv.weight.data).astype(np.float64)
    np.testing.assert_allclose(spectrum.singular_values(conv),
                               np.linalg.svd(W.reshape(5, 18), compute_uv=False), rtol=1e-12)
    per_position = spectrum.singular_values(conv, per_position=True)
    assert per_position.shape == (2, 3, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(per_position[i, j], np.linalg.svd(W[:, :, i, j], compute_uv=False),
                                       rtol=1e-12)
    kappa = spectrum.condition_number(conv, per_position=True)
    np.testing.assert_allclose(kappa, per_position[..., 0] / per_position[..., -1], rtol=1e-12)
    assert spectrum.numerical_rank(conv, per_position=True).tolist() == [[3, 3, 3], [3, 3, 3]]


def test_singular_and_zero_matrices_have_infinite_conditioning_without_warnings():
    singular = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spectrum.condition_number(singular) == np.inf or spectrum.condition_number(singular) > 1e15
        exact = np.array([[1.0, 0.0], [0.0, 0.0]])
        assert spectrum.condition_number(exact) == np.inf
        zero = np.zeros((3, 4))
        assert spectrum.condition_number(zero) == np.inf
        assert spectrum.stable_rank(zero) == 0.0
        assert spectrum.numerical_rank(zero) == 0
    assert spectrum.numerical_rank(singular) == 1


def test_numerical_rank_uses_the_precision_of_the_weight():
    rng = np.random.default_rng(0)
    low = (rng.standard_normal((20, 2)) @ rng.standard_normal((2, 10))).astype(np.float32)
    assert spectrum.numerical_rank(low) == 2
    assert spectrum.numerical_rank(low.astype(np.float64) + 1e-9 * rng.standard_normal((20, 10))) == 10


def test_a_weight_with_nan_or_inf_is_an_error_naming_the_layer():
    layer = nn.Linear(3, 2)
    layer.weight.data[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"layer '3' \(Linear\).*NaN or inf"):
        spectrum.singular_values(layer, name="3")
    with pytest.raises(ValueError, match="Linear contains NaN"):
        spectrum.condition_number(layer)
    with pytest.raises(ValueError, match="NaN or inf"):
        spectrum.spectral_norm(np.array([[1.0, np.inf], [0.0, 1.0]]))


def test_bad_sources_are_rejected_clearly():
    with pytest.raises(ValueError, match=r"shape \(out, in\)"):
        spectrum.singular_values(np.ones(3))
    with pytest.raises(ValueError, match="floating"):
        spectrum.singular_values(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="no weight"):
        spectrum.singular_values(nn.ReLU())
    with pytest.raises(TypeError, match="a layer, a Tensor or an array"):
        spectrum.singular_values("W")
    assert spectrum.singular_values(Tensor(np.eye(2))).tolist() == [1.0, 1.0]


def test_ill_conditioned_matrices_keep_an_accurate_sigma_min():
    values = [2.0, 1.0, 3e-7, 1e-9]  # kappa = 2e9, far past where the Gram matrix would lose sigma_min
    W = matrix_with(values, 6, 4)
    np.testing.assert_allclose(spectrum.singular_values(W), values, rtol=1e-6)
    assert spectrum.condition_number(W) == pytest.approx(2e9, rel=1e-6)
    stack = np.stack([matrix_with([1.0, 0.5], 3, 2), matrix_with([1.0, 1e-8], 3, 2)])  # one per position
    conv_like = stack.transpose(1, 2, 0)[:, :, :, None]  # (out=3, in=2, kh=2, kw=1)
    np.testing.assert_allclose(spectrum.singular_values(conv_like, per_position=True)[:, 0],
                               [[1.0, 0.5], [1.0, 1e-8]], rtol=1e-6)
