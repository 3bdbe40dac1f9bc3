"""The core on CuPy against the same math written out in plain NumPy on the host.

Weights are made on the device, copied to the host with backend.asnumpy, and the reference forward and
backward passes below are computed from them with NumPy loops: nothing here switches the backend.
"""
import numpy as np
import pytest

from minidl import Tensor, backend, init, manual_seed, nn
from minidl.nn import functional as F
from minidl.optim import SGD
from minidl.train import evaluate, fit

TOLERANCES = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
rng = np.random.default_rng(0)


def host(a):
    return backend.asnumpy(a)


def device_tensor(array, requires_grad=False):
    return Tensor(backend.to_device(array), requires_grad=requires_grad)


# --------------------------------------------------------------------- host references
def cross_entropy_reference(z, y):
    """(loss, dL/dz) of the mean cross-entropy of logits z (N, C) and classes y (N,)."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    grad[np.arange(len(y)), y] -= 1
    return -log_p[np.arange(len(y)), y].mean(), grad / len(y)


def conv_reference(x, w, b, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    o, _, kh, kw = w.shape
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    y = np.empty((x.shape[0], o, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


def conv_backward_reference(g, x, w, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    gx, gw = np.zeros_like(xp), np.zeros_like(w)
    _, _, kh, kw = w.shape
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            gw += np.tensordot(g[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            gx[:, :, rows, cols] += np.tensordot(g[:, :, i, j], w, axes=([1], [0]))
    return gx[:, :, pad:xp.shape[2] - pad, pad:xp.shape[3] - pad], gw, g.sum(axis=(0, 2, 3))


def max_pool_reference(x, k):
    """(y, dy -> dx): k x k windows with stride k; the gradient goes to each window's first maximum."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    windows = x[:, :, :oh * k, :ow * k].reshape(n, c, oh, k, ow, k).transpose(0, 1, 2, 4, 3, 5)
    flat = windows.reshape(n, c, oh, ow, k * k)
    index = flat.argmax(axis=-1)

    def backward(g):
        gx = np.zeros_like(x)
        for a, b, i, j in np.ndindex(*g.shape):
            r, s = divmod(index[a, b, i, j], k)
            gx[a, b, i * k + r, j * k + s] += g[a, b, i, j]
        return gx
    return flat.max(axis=-1), backward


# --------------------------------------------------------------------- forward and backward
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_matches_numpy(dtype):
    manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8, dtype=dtype), nn.ReLU(), nn.Linear(8, 3, dtype=dtype))
    x = rng.standard_normal((5, 6)).astype(dtype)
    y = rng.integers(0, 3, 5)
    xt = device_tensor(x, requires_grad=True)
    logits = model(xt)
    loss = F.cross_entropy(logits, backend.to_device(y))
    loss.backward()
    assert backend.is_backend_array(logits.data) and backend.is_backend_array(xt.grad)

    w1, b1, w2, b2 = (host(p.data) for p in model.parameters())
    h = x @ w1.T + b1
    r = np.maximum(h, 0)
    z = r @ w2.T + b2
    expected_loss, dz = cross_entropy_reference(z, y)
    dh = (dz @ w2) * (h > 0)
    expected = [dh.T @ x, dh.sum(axis=0), dz.T @ r, dz.sum(axis=0)]
    tol = TOLERANCES[dtype]
    np.testing.assert_allclose(host(logits.data), z, **tol)
    np.testing.assert_allclose(loss.item(), expected_loss, **tol)
    np.testing.assert_allclose(host(xt.grad), dh @ w1, **tol)
    for p, g in zip(model.parameters(), expected):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(host(p.grad), g, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_net_matches_numpy(dtype):
    manual_seed(1)
    conv, linear = nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=dtype), nn.Linear(12, 4, dtype=dtype)
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), linear)
    x = rng.standard_normal((2, 2, 9, 8)).astype(dtype)
    y = rng.integers(0, 4, 2)
    xt = device_tensor(x, requires_grad=True)
    logits = model(xt)
    loss = F.cross_entropy(logits, backend.to_device(y))
    loss.backward()

    wc, bc, wl, bl = (host(p.data) for p in model.parameters())
    c = conv_reference(x, wc, bc, 2, 1)
    r = np.maximum(c, 0)
    pooled, pool_backward = max_pool_reference(r, 2)
    flat = pooled.reshape(2, -1)
    z = flat @ wl.T + bl
    expected_loss, dz = cross_entropy_reference(z, y)
    dc = pool_backward((dz @ wl).reshape(pooled.shape)) * (c > 0)
    dx, dwc, dbc = conv_backward_reference(dc, x, wc, 2, 1)
    tol = TOLERANCES[dtype]
    np.testing.assert_allclose(host(logits.data), z, **tol)
    np.testing.assert_allclose(loss.item(), expected_loss, **tol)
    np.testing.assert_allclose(host(xt.grad), dx, **tol)
    for p, g in zip(model.parameters(), [dwc, dbc, dz.T @ flat, dz.sum(axis=0)]):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(host(p.grad), g, **tol)


def test_avg_pool_and_indexing_with_repeats_match_numpy():
    x = rng.standard_normal((2, 3, 7, 5))
    xt = device_tensor(x, requires_grad=True)
    out = F.avg_pool2d(xt, 3, stride=2)
    expected = np.stack([np.stack([x[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].mean(axis=(2, 3))
                                   for j in range(2)], -1) for i in range(3)], -2)
    np.testing.assert_allclose(host(out.data), expected, rtol=1e-12)
    v = device_tensor(rng.standard_normal(5), requires_grad=True)
    index = backend.to_device(np.array([4, 0, 4, 4]))
    (v[index] * 2.0).sum().backward()
    np.testing.assert_allclose(host(v.grad), [2, 0, 0, 0, 6])


def test_sgd_steps_match_numpy():
    start, grads = rng.standard_normal((3, 2)), [rng.standard_normal((3, 2)) for _ in range(4)]
    p = nn.Parameter(backend.to_device(start.astype(np.float32)))
    optimizer = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    expected, buffer = start.astype(np.float32), None
    for g in grads:
        p.grad = backend.to_device(g.astype(np.float32))
        optimizer.step()
        d = g.astype(np.float32) + np.float32(0.01) * expected
        buffer = d.copy() if buffer is None else np.float32(0.9) * buffer + d
        expected = expected - np.float32(0.1) * (d + np.float32(0.9) * buffer)
    assert backend.is_backend_array(p.data) and p.data.dtype == np.float32
    assert backend.is_backend_array(optimizer.state[0]["momentum_buffer"])
    np.testing.assert_allclose(host(p.data), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- host arrays are refused
def test_host_arrays_in_tensor_ops_raise_type_error():
    t = device_tensor(np.ones(3, np.float32), requires_grad=True)
    host_array = np.ones(3, np.float32)
    for op in [lambda: Tensor(host_array), lambda: t + host_array, lambda: host_array * t,
               lambda: (t * 2).backward(host_array), lambda: F.mse_loss(t, host_array),
               lambda: F.cross_entropy(t.reshape(1, 3), np.array([0]))]:
        with pytest.raises(TypeError, match="host"):
            op()


def test_load_state_dict_refuses_host_arrays_and_load_moves_them(tmp_path):
    manual_seed(0)
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    with pytest.raises(TypeError, match="host"):
        target.load_state_dict({k: host(v) for k, v in source.state_dict().items()})
    source.save(tmp_path / "linear.npz")
    target.load(tmp_path / "linear.npz")
    assert backend.is_backend_array(target.weight.data)
    np.testing.assert_array_equal(host(target.weight.data), host(source.weight.data))


# --------------------------------------------------------------------- randomness, init and fit
def test_random_draws_are_on_the_device_and_follow_the_seed():
    w = Tensor(backend.xp.empty((64, 32), dtype=np.float32))
    manual_seed(5)
    first = host(init.truncated_normal(w, 0.0, 0.1).data)
    manual_seed(5)
    np.testing.assert_array_equal(host(init.truncated_normal(w, 0.0, 0.1).data), first)
    assert np.abs(first).max() <= 0.2 and w.dtype == np.float32
    q = host(init.orthogonal(w).data).astype(np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(32), atol=1e-5)
    manual_seed(2)
    mask = host(F.dropout(device_tensor(np.ones((100, 100), np.float32)), 0.25).data)
    assert abs((mask == 0).mean() - 0.25) < 0.02


def test_fit_runs_on_the_gpu():
    X = rng.standard_normal((96, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    optimizer = SGD(model.parameters(), lr=0.2, momentum=0.9)
    history = fit(model, F.cross_entropy, optimizer, X, y, epochs=8, batch_size=16, validation=(X, y),
                  progress=False)
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["val_accuracy"] > 0.85
    for p in model.parameters():
        assert backend.is_backend_array(p.data) and p.data.dtype == np.float32
    assert evaluate(model, F.cross_entropy, X, y)["accuracy"] == history[-1]["val_accuracy"]
