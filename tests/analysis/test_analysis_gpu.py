"""The analysis on CuPy (MINIDL_BACKEND=cupy with a CUDA GPU; skipped otherwise).

Weights live on the device; every reference is computed with NumPy from a host copy (backend.asnumpy).
"""
import numpy as np
import pytest
from gradcheck import gradcheck

from minidl import Tensor, backend, manual_seed, nn, optim, train
from minidl.analysis import (SpectrumTracker, compression, norms, pruning, random_matrix, regularizers,
                             spectrum)

pytestmark = pytest.mark.skipif(not backend.on_gpu, reason="needs MINIDL_BACKEND=cupy and a CUDA GPU")


def host(a):
    return backend.asnumpy(a)


def test_singular_values_of_device_weights_match_numpy_on_the_host():
    manual_seed(0)
    layer, conv = nn.Linear(300, 120), nn.Conv2d(4, 6, 3)
    assert backend.is_backend_array(layer.weight.data)
    W = host(layer.weight.data).astype(np.float64)
    np.testing.assert_allclose(spectrum.singular_values(layer), np.linalg.svd(W, compute_uv=False),
                               rtol=1e-10)
    C = host(conv.weight.data).astype(np.float64)
    per_position = spectrum.singular_values(conv, per_position=True)
    np.testing.assert_allclose(per_position[1, 2], np.linalg.svd(C[:, :, 1, 2], compute_uv=False), rtol=1e-10)
    layer.weight.data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="'0' \\(Linear\\) contains NaN"):
        spectrum.condition_number(layer, name="0")


def test_the_tracker_follows_a_model_trained_on_the_gpu(tmp_path):
    manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, 20)).astype(np.float32), rng.integers(0, 4, 128)
    tracker = SpectrumTracker()
    train.fit(model, nn.functional.cross_entropy, optim.SGD(model.parameters(), lr=0.1), X, y, 2, 32,
              validation=(X, y), callbacks=[tracker], progress=False)
    last = tracker.records("2")[-1]
    assert isinstance(last["spectrum"], np.ndarray)
    np.testing.assert_allclose(last["spectrum"], np.linalg.svd(host(model[2].weight.data).astype(np.float64),
                                                               compute_uv=False), rtol=1e-8)
    tracker.to_csv(tmp_path / "s.csv")
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 1 + 3 * 2


def test_compression_pruning_and_normalization_stay_on_the_device():
    manual_seed(0)
    f64 = np.float64
    model = nn.Sequential(nn.Linear(6, 9, dtype=f64), nn.ReLU(), nn.Linear(9, 5, bias=False, dtype=f64),
                          nn.ReLU(), nn.Linear(5, 3, dtype=f64))
    x = Tensor(backend.to_device(np.random.default_rng(1).standard_normal((7, 6))))
    compressed, _ = compression.compress(model, {"0": 6})
    assert all(backend.is_backend_array(p.data) for p in compressed.parameters())
    np.testing.assert_allclose(host(compressed(x).data), host(model(x).data), rtol=1e-10)
    W = host(model[0].weight.data)
    np.testing.assert_allclose(host(compression.low_rank(model[0], 2)),
                               np.linalg.svd(W)[0][:, :2] @ np.diag(np.linalg.svd(W)[1][:2])
                               @ np.linalg.svd(W)[2][:2], atol=1e-12)
    pruned = pruning.prune_units(model, 0, [1, 3])
    masked = pruning.mask_units(model, 0, [1, 3])
    np.testing.assert_allclose(host(pruned(x).data), host(masked(x).data), rtol=1e-12, atol=1e-14)
    assert pruning.frame_potential(model[0]) >= 9
    normalized, product = norms.normalize_layers(model)
    np.testing.assert_allclose(host(normalized(x).data) * product, host(model(x).data), rtol=1e-10)
    perturb = norms.WeightPerturbation(0.1, [1], seed=0)
    perturb.on_epoch_end(1, model, {})
    assert backend.is_backend_array(model[0].weight.data)
    assert random_matrix.fit_sigma(model[0]) > 0


def test_regularizers_differentiate_through_the_device_svd():
    manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64))
    gradcheck(lambda: regularizers.conditioning_penalty(model, 0.5), [model[0].weight])
    layer = regularizers.SVDLinear.from_linear(model[0])
    x = Tensor(backend.to_device(np.random.default_rng(0).standard_normal((3, 5))))
    np.testing.assert_allclose(host(layer(x).data), host(model[0](x).data), rtol=1e-10)
    regularizers.bound_singular_values(model[0], eps=0.1)
    values = spectrum.singular_values(model[0])
    assert values.max() <= 1.1 + 1e-12 and values.min() >= 1 / 1.1 - 1e-12
