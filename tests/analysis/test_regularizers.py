import numpy as np
import pytest
from gradcheck import gradcheck

import minidl
from minidl import backend, nn, optim, train
from minidl.analysis import regularizers, spectrum
from minidl.autograd import Tensor
from minidl.nn.module import Parameter


def spread_matrix(rows, columns, seed):
    """A random float64 matrix with well separated singular values (so the SVD is differentiable)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((columns, columns)))
    r = min(rows, columns)
    sigma = np.zeros((rows, columns))
    sigma[np.arange(r), np.arange(r)] = np.linspace(3.0, 0.5, r)
    return u @ sigma @ v.T


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_singular_values_backward_matches_central_differences(shape):
    W = Parameter(spread_matrix(*shape, seed=0))
    values = regularizers.differentiable_singular_values(W)
    np.testing.assert_allclose(values.numpy(), spectrum.singular_values(W), rtol=1e-12)
    gradcheck(lambda: regularizers.differentiable_singular_values(W), [W])


def test_conditioning_penalty_value_and_gradient_for_linear_and_conv_layers():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 2, dtype=np.float64), nn.Flatten(),
                          nn.Linear(12, 4, dtype=np.float64))
    model[0].weight.data[...] = spread_matrix(3, 8, 1).reshape(3, 2, 2, 2)
    model[2].weight.data[...] = spread_matrix(4, 12, 2)
    penalty = regularizers.conditioning_penalty(model, 0.3)
    expected = 0.3 * np.log(spectrum.condition_number(model[0]) * spectrum.condition_number(model[2]))
    assert penalty.item() == pytest.approx(expected, rel=1e-12)
    only_linear = regularizers.conditioning_penalty(model, 2.0, layers=["2"])
    assert only_linear.item() == pytest.approx(2.0 * np.log(spectrum.condition_number(model[2])))
    gradcheck(lambda: regularizers.conditioning_penalty(model, 0.3), [model[0].weight, model[2].weight])
    with pytest.raises(ValueError, match="'1' is not a Linear or Conv2d"):
        regularizers.conditioning_penalty(model, 1.0, layers=["1"])
    with pytest.raises(ValueError, match="conditioning_penalty: strength must be >= 0, got -1.0"):
        regularizers.conditioning_penalty(model, -1.0)


def test_the_penalty_lowers_the_condition_number_when_minimized():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4))
    before = spectrum.condition_number(model[0])
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    for _ in range(50):
        optimizer.zero_grad()
        regularizers.conditioning_penalty(model, 1.0).backward()
        optimizer.step()
    assert spectrum.condition_number(model[0]) < 0.5 * before
    assert model[0].weight.dtype == np.float32


def test_svd_linear_matches_its_linear_and_has_exact_gradients():
    minidl.manual_seed(0)
    dense = nn.Linear(5, 3, dtype=np.float64)
    layer = regularizers.SVDLinear.from_linear(dense)
    assert layer.U.shape == (3, 3) and layer.S.shape == (3,) and layer.V.shape == (3, 5)
    np.testing.assert_allclose(backend.asnumpy(layer.U.data.T @ layer.U.data), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(backend.asnumpy(layer.V.data @ layer.V.data.T), np.eye(3), atol=1e-12)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 5)))
    np.testing.assert_allclose(layer(x).numpy(), dense(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.numpy(), dense.weight.numpy(), atol=1e-12)
    assert [key for key, _ in layer.named_parameters()] == ["U", "S", "V", "bias"]
    gradcheck(lambda: layer(x) * 1.0 + layer.penalty(0.1), list(layer.parameters()))
    assert layer.penalty(0.1).item() == pytest.approx(-0.1 * np.log(spectrum.singular_values(dense)).sum())


def test_orthonormalize_keeps_the_map_and_restores_orthonormal_factors():
    minidl.manual_seed(0)
    layer = regularizers.SVDLinear(6, 4, dtype=np.float64)
    rng = np.random.default_rng(1)
    for p in (layer.U, layer.V):
        p.data += 0.1 * rng.standard_normal(p.shape)
    layer.S.data[1] *= -1  # a sign flip is absorbed by U
    W = layer.weight.numpy()
    assert not np.allclose(backend.asnumpy(layer.U.data.T @ layer.U.data), np.eye(4))
    versions = [p._version for p in (layer.U, layer.S, layer.V)]
    regularizers.Reorthonormalize(every=2).on_epoch_end(2, nn.Sequential(layer), {})
    assert [p._version for p in (layer.U, layer.S, layer.V)] == [v + 1 for v in versions]
    np.testing.assert_allclose(layer.weight.numpy(), W, atol=1e-12)
    np.testing.assert_allclose(backend.asnumpy(layer.U.data.T @ layer.U.data), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(backend.asnumpy(layer.V.data @ layer.V.data.T), np.eye(4), atol=1e-12)
    assert (backend.asnumpy(layer.S.data) >= 0).all()


def test_svd_linear_trains_inside_fit_with_its_penalty():
    minidl.manual_seed(0)
    model = nn.Sequential(regularizers.SVDLinear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    loss = lambda out, t: nn.functional.cross_entropy(out, t) + model[0].penalty(1e-3)  # noqa: E731
    history = train.fit(model, loss, optim.SGD(model.parameters(), lr=0.2), X, y, 15, 16,
                        callbacks=[regularizers.Reorthonormalize()], progress=False)
    assert history[-1]["accuracy"] > 0.9 and history[-1]["loss"] < history[0]["loss"]


def test_singular_value_bounding_clips_into_the_band_and_keeps_the_singular_vectors():
    layer = nn.Linear(5, 4, dtype=np.float64)
    layer.weight.data[...] = spread_matrix(4, 5, 3)  # singular values 3, 2.17, 1.33, 0.5
    u, _, vt = np.linalg.svd(layer.weight.numpy(), full_matrices=False)
    version = layer.weight._version
    regularizers.bound_singular_values(layer, eps=0.5)
    assert layer.weight._version == version + 1
    np.testing.assert_allclose(spectrum.singular_values(layer), [1.5, 1.5, 4 / 3, 1 / 1.5], rtol=1e-12)
    np.testing.assert_allclose(layer.weight.numpy(), (u * [1.5, 1.5, 4 / 3, 1 / 1.5]) @ vt, atol=1e-12)
    assert spectrum.condition_number(layer) <= 1.5 ** 2 + 1e-12
    conv = nn.Conv2d(2, 3, 2)
    regularizers.bound_singular_values(conv, eps=0.1)
    assert conv.weight.dtype == np.float32
    values = spectrum.singular_values(conv)
    assert values.max() <= 1.1 + 1e-6 and values.min() >= 1 / 1.1 - 1e-6


def test_singular_value_bounding_is_a_post_step_hook_that_bounds_every_k_steps():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    bounding = regularizers.SingularValueBounding(model, eps=0.01, every=2)
    handle = optimizer.register_step_post_hook(bounding)
    x = Tensor(np.ones((2, 3), dtype=np.float32))

    def in_band():
        return np.all(np.abs(np.log(spectrum.singular_values(model[0]))) <= np.log(1.01) + 1e-6)

    for step in range(1, 5):
        optimizer.zero_grad()
        (model(x) * model(x)).sum().backward()
        optimizer.step()
        assert in_band() == (step % 2 == 0)
    assert bounding.steps == 4
    handle.remove()
    optimizer.zero_grad()
    (model(x) * model(x)).sum().backward()
    optimizer.step()
    optimizer.step()
    assert bounding.steps == 4 and not in_band()
    with pytest.raises(ValueError, match="Linear or Conv2d"):
        regularizers.SingularValueBounding(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="^SingularValueBounding: every must be an integer >= 1, got 0"):
        regularizers.SingularValueBounding(model, every=0)
    assert regularizers.SingularValueBounding(model, eps=np.float32(0.5)).eps == 0.5
