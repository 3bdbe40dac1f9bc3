import warnings

import numpy as np
import pytest

import minidl
from minidl import backend, nn
from minidl.analysis import jacobian
from minidl.autograd import Tensor, no_grad

F64 = np.float64


def mlp(*sizes, bias=True, dropout=0.0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias, dtype=F64))
        if i < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()]
    return nn.Sequential(*layers)


def conv_net():
    """8x8 digits-sized input; padding, stride, an overlapping max pool and an average pool."""
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, dtype=F64), nn.ReLU(), nn.MaxPool2d(3, stride=2),
                         nn.Conv2d(3, 4, 2, dtype=F64), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4, 5, dtype=F64))


def samples(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def host(a):
    return backend.asnumpy(a)


def outputs(model, X):
    """f(X) flattened to (n, d_out), in evaluation mode."""
    mode = model.training
    model.eval()
    with no_grad():
        y = model(Tensor(backend.to_device(X))).numpy()
    model.train(mode)
    return y.reshape(len(X), -1)


def finite_differences(model, X, h=1e-6):
    """Central differences (n, d_out, d_in), every sample at once (samples do not interact)."""
    n, shape = len(X), X.shape[1:]
    flat = X.reshape(n, -1)
    columns = []
    for j in range(flat.shape[1]):
        step = np.zeros(flat.shape[1])
        step[j] = h
        plus = outputs(model, (flat + step).reshape((n,) + shape))
        minus = outputs(model, (flat - step).reshape((n,) + shape))
        columns.append((plus - minus) / (2 * h))
    return np.stack(columns, axis=-1)


def torch_jacobians(model, X):
    """vmap(jacrev) of the same network in PyTorch, (n, d_out, d_in)."""
    torch = pytest.importorskip("torch")
    t = torch.nn
    layers = []
    for layer in jacobian._layers(model, "test"):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            copy = (t.Linear(layer.in_features, layer.out_features) if isinstance(layer, nn.Linear)
                    else t.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                  layer.stride, layer.padding)).double()
            with torch.no_grad():
                copy.weight.copy_(torch.from_numpy(host(layer.weight.data)))
                copy.bias.copy_(torch.from_numpy(host(layer.bias.data)))
            layers.append(copy)
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = t.MaxPool2d if isinstance(layer, nn.MaxPool2d) else t.AvgPool2d
            layers.append(kind(layer.kernel_size, layer.stride))
        else:
            same = {nn.ReLU: t.ReLU(), nn.Flatten: t.Flatten(0), nn.Dropout: t.Identity()}
            layers.append(same[type(layer)])
    net = t.Sequential(*layers)
    J = torch.func.vmap(torch.func.jacrev(net))(torch.from_numpy(X)).detach().numpy()
    return J.reshape(len(X), -1, X[0].size)


# --------------------------------------------------------------------- the DJM of ReLU networks
def test_mlp_djm_matches_autograd_finite_differences_and_torch_from_either_end():
    minidl.manual_seed(0)
    model = mlp(12, 16, 16, 3, dropout=0.5)  # left in training mode: djm evaluates with dropout off
    X = samples(6, 12)
    expected = finite_differences(model, X)
    np.testing.assert_allclose(torch_jacobians(model, X), expected, atol=1e-8)
    for options in ({}, {"accumulate": "output"}, {"accumulate": "input"}, {"method": "autograd"}):
        J = host(jacobian.djm(model, X, **options))
        assert J.shape == (6, 3, 12) and J.dtype == F64
        np.testing.assert_allclose(J, expected, atol=1e-8)
    assert all(module.training for module in model.modules())


def test_auto_accumulates_from_the_end_with_fewer_dimensions(monkeypatch):
    ends = []
    pull, push = jacobian._pull, jacobian._push
    monkeypatch.setattr(jacobian, "_pull", lambda *a: ends.append("output") or pull(*a))
    monkeypatch.setattr(jacobian, "_push", lambda *a: ends.append("input") or push(*a))
    for sizes, end in (((12, 16, 16, 3), "output"), ((3, 16, 16, 12), "input")):
        ends.clear()
        model = mlp(*sizes)
        X = samples(4, sizes[0])
        np.testing.assert_allclose(host(jacobian.djm(model, X)), finite_differences(model, X), atol=1e-8)
        assert set(ends) == {end}


def test_bias_free_relu_net_is_exactly_its_djm_times_x():
    minidl.manual_seed(1)
    model = mlp(10, 20, 20, 20, 4, bias=False)
    X = samples(8, 10)
    J = host(jacobian.djm(model, X))
    np.testing.assert_allclose(np.einsum("nij,nj->ni", J, X), outputs(model, X), rtol=1e-12, atol=1e-13)
    assert not host(jacobian.effective_bias(model, X)).any()


def test_effective_bias_carries_the_biases_through_the_masks():
    minidl.manual_seed(2)
    model = mlp(5, 7, 3)
    X = samples(9, 5)
    b = host(jacobian.effective_bias(model, X))
    W1, b1, W2, b2 = (host(p.data) for p in model.parameters())
    mask = X @ W1.T + b1 > 0
    np.testing.assert_allclose(b, (mask * b1) @ W2.T + b2, rtol=1e-13)
    deep = mlp(5, 7, 7, 3)
    J = host(jacobian.djm(deep, X))
    fitted = np.einsum("nij,nj->ni", J, X) + host(jacobian.effective_bias(deep, X))
    np.testing.assert_allclose(fitted, outputs(deep, X), rtol=1e-12, atol=1e-13)


def test_forward_masks_agree_with_the_forward_pass():
    minidl.manual_seed(3)
    model = conv_net()
    X = samples(4, 1, 8, 8)
    record = jacobian.forward_masks(model, X)
    np.testing.assert_allclose(host(record.output), outputs(model, X), rtol=1e-14)
    assert [type(layer) for layer in record.layers] == [type(layer) for layer in model]
    for position, (layer, mask) in enumerate(zip(record.layers, record.masks)):
        before = model[:position](Tensor(backend.to_device(X))).numpy() if position else X
        if isinstance(layer, nn.ReLU):
            np.testing.assert_array_equal(host(mask), before > 0)
        elif isinstance(layer, nn.MaxPool2d):  # by hand: the first maximum of each 3x3 window, stride 2
            n, c, h, w = before.shape
            chosen = np.empty((n, c, (h - 3) // 2 + 1, (w - 3) // 2 + 1), dtype=int)
            for i in range(chosen.shape[2]):
                for j in range(chosen.shape[3]):
                    window = before[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].reshape(n, c, 9)
                    chosen[:, :, i, j] = window.argmax(axis=-1)
            np.testing.assert_array_equal(host(mask), chosen)
        else:
            assert mask is None


def test_linear_net_has_one_jacobian_for_every_sample_and_a_rank_one_edjm():
    minidl.manual_seed(4)
    model = nn.Sequential(nn.Linear(20, 6, dtype=F64), nn.Dropout(0.5), nn.Linear(6, 1, dtype=F64))
    X = samples(25, 20)
    J = host(jacobian.djm(model, X))
    product = host(model[2].weight.data @ model[0].weight.data)
    np.testing.assert_allclose(J, np.broadcast_to(product, (25, 1, 20)), rtol=1e-13)
    E = jacobian.edjm(model, X)
    assert E.shape == (1, 25, 20)
    values = jacobian.edjm_singular_values(E)
    s = host(values)
    assert s.shape == (1, 20) and s[0, 1] < 1e-12 * s[0, 0]
    np.testing.assert_allclose(s[0, 0], np.sqrt(25) * np.linalg.norm(product), rtol=1e-12)
    assert jacobian.edjm_score(values) == pytest.approx(1.0)  # one component: the simplest function


def test_layers_it_cannot_express_are_a_clear_error_yet_autograd_works():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(6, 6, dtype=F64)

        def forward(self, x):
            return x + nn.functional.relu(self.inner(x))

    minidl.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6, dtype=F64), nn.ReLU(), Residual(), nn.Linear(6, 2, dtype=F64))
    X = samples(5, 4)
    for function in (jacobian.djm, jacobian.effective_bias, jacobian.forward_masks):
        with pytest.raises(TypeError, match="Residual.*method='autograd'"):
            function(model, X)
    J = host(jacobian.djm(model, X, method="autograd"))
    np.testing.assert_allclose(J, finite_differences(model, X), atol=1e-8)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


def test_chunks_under_a_byte_budget_give_the_same_result(monkeypatch):
    minidl.manual_seed(6)
    model = mlp(12, 16, 16, 3)
    X = samples(11, 12)
    whole = [host(jacobian.djm(model, X)), host(jacobian.djm(model, X, method="autograd")),
             host(jacobian.effective_bias(model, X))]
    calls = []
    run = jacobian._run
    monkeypatch.setattr(jacobian, "_run", lambda *a: calls.append(len(a[1])) or run(*a))
    chunked = [host(jacobian.djm(model, X, max_bytes=6000)),
               host(jacobian.djm(model, X, method="autograd", max_bytes=6000)),
               host(jacobian.effective_bias(model, X, max_bytes=3000))]
    assert len(calls) > 4 and max(calls) < len(X)  # several chunks, each smaller than the data
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)


def test_a_sample_that_cannot_fit_the_budget_is_a_clear_error():
    model = mlp(12, 16, 3)
    for method in ("explicit", "autograd"):
        with pytest.raises(ValueError, match="djm: one sample needs .* raise max_bytes"):
            jacobian.djm(model, samples(3, 12), method=method, max_bytes=500)


# --------------------------------------------------------------------- convolutional networks
def test_conv_net_explicit_equals_autograd_torch_and_the_linear_system():
    minidl.manual_seed(7)
    model = conv_net()
    X = samples(4, 1, 8, 8)
    expected = host(jacobian.djm(model, X, method="autograd"))
    np.testing.assert_allclose(expected, torch_jacobians(model, X), atol=1e-12)
    for accumulate in ("auto", "output", "input"):
        np.testing.assert_allclose(host(jacobian.djm(model, X, accumulate=accumulate)), expected,
                                   atol=1e-13)
    fitted = np.einsum("nij,nj->ni", expected, X.reshape(4, -1)) + host(jacobian.effective_bias(model, X))
    np.testing.assert_allclose(fitted, outputs(model, X), atol=1e-12)


def test_conv_net_on_28x28_images_explicit_equals_autograd():
    minidl.manual_seed(8)
    model = nn.Sequential(nn.Conv2d(1, 2, 5, stride=2, dtype=F64), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(72, 3, dtype=F64))
    X = samples(2, 1, 28, 28)
    np.testing.assert_allclose(host(jacobian.djm(model, X)),
                               host(jacobian.djm(model, X, method="autograd")), atol=1e-13)


def test_conv_net_with_more_outputs_than_inputs_matches_finite_differences():
    minidl.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=F64), nn.ReLU(), nn.MaxPool2d(2, stride=1),
                          nn.Flatten())
    X = samples(3, 1, 5, 5)
    J = host(jacobian.djm(model, X))  # 64 outputs, 25 inputs: accumulated from the input
    assert J.shape == (3, 64, 25)
    np.testing.assert_allclose(J, finite_differences(model, X), atol=1e-8)
    np.testing.assert_allclose(host(jacobian.djm(model, X, accumulate="output")), J, atol=1e-14)


# --------------------------------------------------------------------- the EDJM and its spectrum
def test_edjm_stacks_each_outputs_rows_and_its_singular_values_are_numpys():
    minidl.manual_seed(10)
    model = mlp(8, 16, 3)
    X = samples(30, 8)
    J, E = host(jacobian.djm(model, X)), jacobian.edjm(model, X)
    assert E.shape == (3, 30, 8)
    np.testing.assert_array_equal(host(E[1]), J[:, 1, :])
    s = host(jacobian.edjm_singular_values(E))
    for j in range(3):
        np.testing.assert_allclose(s[j], np.linalg.svd(J[:, j, :], compute_uv=False), rtol=1e-12)
    with pytest.raises(ValueError, match="edjm_singular_values"):
        jacobian.edjm_singular_values(E[0, 0])


def test_normalized_spectrum_divides_by_the_largest_and_averages_outputs():
    s = backend.to_device(np.array([[4.0, 2.0, 1.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(host(jacobian.normalized_spectrum(s)), [2 / 3, 1.5 / 3, 0.25 / 3])
    np.testing.assert_allclose(host(jacobian.normalized_spectrum(s[0])), [1.0, 0.5, 0.25])


def test_edjm_score_keeps_the_values_above_the_percentile():
    one = np.arange(20, 0, -1, dtype=F64)  # 90th percentile of 1..20: 18.1, so 19 and 20 count
    two = np.concatenate([[10.0, 9.0, 8.0], np.ones(17)])  # percentile 8.1 at position 17.1
    s = backend.to_device(np.stack([one, two]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jacobian.edjm_score(s[0]) == pytest.approx((20 + 19) / 20)
        assert jacobian.edjm_score(s) == pytest.approx(((20 + 19) / 20 + (10 + 9) / 10) / 2)
        assert jacobian.edjm_score(s[0], percentile=50) == pytest.approx(sum(range(11, 21)) / 20)
        assert jacobian.edjm_score(backend.to_device(np.zeros((1, 20)))) == 0.0
    with pytest.warns(RuntimeWarning, match="only 10 singular values"):
        assert jacobian.edjm_score(s[:, :10]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="percentile"):
        jacobian.edjm_score(s, percentile=100)


# --------------------------------------------------------------------- inputs
def test_bad_arguments_are_clear_errors():
    model = mlp(4, 5, 2)
    with pytest.raises(TypeError, match="djm: the samples are float32"):
        jacobian.djm(model, samples(3, 4).astype(np.float32))
    with pytest.raises(ValueError, match="method must be"):
        jacobian.djm(model, samples(3, 4), method="numeric")
    with pytest.raises(ValueError, match="accumulate must be"):
        jacobian.djm(model, samples(3, 4), accumulate="middle")
    with pytest.raises(ValueError, match="djm: expected a floating array of samples"):
        jacobian.djm(model, samples(4))


def test_float32_stays_float32():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    X = samples(3, 4).astype(np.float32)
    assert jacobian.djm(model, X).dtype == np.float32
    assert jacobian.effective_bias(model, X).dtype == np.float32
