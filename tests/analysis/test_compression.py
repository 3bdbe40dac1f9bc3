import numpy as np
import pytest

import minidl
from minidl import backend, nn, random, train
from minidl.analysis import compression, spectrum
from minidl.autograd import Tensor


def float64_mlp():
    minidl.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 10, dtype=np.float64), nn.ReLU(), nn.Linear(10, 8, dtype=np.float64),
                         nn.ReLU(), nn.Linear(8, 3, dtype=np.float64))


def test_eckart_young_errors_are_exactly_the_discarded_singular_values():
    W = np.random.default_rng(0).standard_normal((12, 8))
    s = np.linalg.svd(W, compute_uv=False)
    errors = compression.residuals(W)
    assert errors.shape == (9,) and errors[0] == pytest.approx(np.linalg.norm(W)) and errors[-1] == 0
    for k in range(1, 8):
        W_k = compression.low_rank(W, k)
        assert np.linalg.matrix_rank(W_k) == k
        assert np.linalg.norm(W - W_k, "fro") ** 2 == pytest.approx((s[k:] ** 2).sum(), rel=1e-10)
        assert np.linalg.norm(W - W_k, 2) == pytest.approx(s[k], rel=1e-10)
        assert errors[k] == pytest.approx(np.linalg.norm(W - W_k, "fro"), rel=1e-10)
    np.testing.assert_allclose(compression.low_rank(W, 8), W, atol=1e-12)
    with pytest.raises(ValueError, match=r"low_rank: k must be an integer in \[1, 8\], got 9"):
        compression.low_rank(W, 9)


def test_low_rank_keeps_the_shape_and_dtype_of_a_conv_weight():
    conv = nn.Conv2d(2, 4, 3)
    approximation = compression.low_rank(conv, 2)
    assert approximation.shape == (4, 2, 3, 3) and approximation.dtype == np.float32
    assert spectrum.numerical_rank(approximation) == 2


def test_elbow_and_energy_choose_the_rank():
    assert compression.elbow([10.0, 5.0, 1.0, 0.9, 0.8, 0.7]) == 2
    W = np.diag(np.r_[np.full(5, 10.0), np.linspace(0.5, 0.1, 25)])
    assert compression.elbow_rank(W) == 5
    W = np.diag([3.0, 2.0, 1.0, 1.0])  # energies 9, 4, 1, 1 of 15
    assert compression.energy_rank(W, 0.6) == 1
    assert compression.energy_rank(W, 0.61) == 2
    assert compression.energy_rank(W, 13 / 15) == 2
    assert compression.energy_rank(W, 1.0) == 4
    with pytest.raises(ValueError, match=r"energy_rank: energy must be in \(0, 1\], got 1.5"):
        compression.energy_rank(W, 1.5)


def test_factorized_linear_computes_the_rank_k_map_and_draws_no_random_numbers():
    minidl.manual_seed(0)
    layer = nn.Linear(9, 7, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 9))
    random.manual_seed(3)
    pair = compression.factorize_linear(layer, 3)
    after = backend.asnumpy(random.uniform((4,)))
    random.manual_seed(3)
    assert np.array_equal(after, backend.asnumpy(random.uniform((4,))))
    first, second = pair
    assert first.weight.shape == (3, 9) and first.bias is None and second.weight.shape == (7, 3)
    W_k = compression.low_rank(layer, 3)
    expected = x @ W_k.T + backend.asnumpy(layer.bias.data)
    np.testing.assert_allclose(pair(Tensor(x)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(compression.factorize_linear(layer, 7)(Tensor(x)).numpy(),
                               layer(Tensor(x)).numpy(), rtol=1e-12)


def test_compress_replaces_layers_in_place_of_a_copy_and_reports_the_savings():
    model = float64_mlp()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 12)), rng.integers(0, 3, 40)
    original = {k: v.copy() for k, v in model.state_dict().items()}
    compressed, chosen = compression.compress(model, {"0": 2, "2": 0.99})
    assert chosen["0"] == 2 and 1 <= chosen["2"] <= 8
    for key, value in model.state_dict().items():  # the model itself is untouched
        np.testing.assert_array_equal(value, original[key])
    assert isinstance(compressed[0], nn.Sequential) and compressed[4] is not model[4]
    assert [type(m).__name__ for m in compressed] == ["Sequential", "ReLU", "Sequential", "ReLU", "Linear"]
    report = compression.compression_report(model, compressed, X, y)
    n_before = (12 * 10 + 10) + (10 * 8 + 8) + (8 * 3 + 3)
    n_after = (12 * 2 + 2 * 10 + 10) + (10 * chosen["2"] + chosen["2"] * 8 + 8) + (8 * 3 + 3)
    assert report["parameters_before"] == n_before and report["parameters_after"] == n_after
    assert report["parameters_saved"] == n_before - n_after
    accuracy = lambda m: train.evaluate(m, nn.functional.cross_entropy, X, y)["accuracy"]  # noqa: E731
    assert report["accuracy_before"] == accuracy(model)
    assert report["accuracy_after"] == accuracy(compressed)
    full, _ = compression.compress(model, {"0": 10})
    np.testing.assert_allclose(full(Tensor(X)).numpy(), model(Tensor(X)).numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="'1' is ReLU"):
        compression.compress(model, {"1": 2})
    with pytest.raises(ValueError, match="'elbow' or an energy"):
        compression.compress(model, {"0": "half"})
