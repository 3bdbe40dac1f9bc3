"""minidl against PyTorch: same float64 weights, same outputs, gradients and SGD trajectories."""
import numpy as np
import pytest

from minidl import Tensor, manual_seed, nn
from minidl.nn import functional as F
from minidl.optim import SGD

torch = pytest.importorskip("torch", reason="PyTorch is needed for the parity tests (pip install torch)")
torch.set_num_threads(1)
TOLERANCE = dict(rtol=1e-10, atol=1e-12)
rng = np.random.default_rng(0)


def mlp(lib, dtype):
    layers = [lib.Linear(5, 7), lib.ReLU(), lib.Linear(7, 4, bias=False), lib.ReLU(), lib.Linear(4, 3)]
    return _typed(lib, layers, dtype)


def convnet(lib, dtype):
    layers = [lib.Conv2d(2, 4, (3, 2), stride=2, padding=1), lib.ReLU(), lib.MaxPool2d(2),
              lib.Conv2d(4, 3, 2, padding=(1, 0)), lib.AvgPool2d(2, stride=1), lib.Flatten(),
              lib.Linear(9, 5)]
    return _typed(lib, layers, dtype)


def _typed(lib, layers, dtype):
    if lib is nn:
        for layer in layers:
            for p in layer.parameters():
                p.data = p.data.astype(dtype)
        return nn.Sequential(*layers)
    return torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))


def pair(build, dtype=np.float64):
    """A minidl model and a torch model with the same architecture and the same weights."""
    manual_seed(0)
    ours, theirs = build(nn, dtype), build(torch.nn, dtype)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def assert_same_gradients(ours, theirs):
    named = dict(theirs.named_parameters())
    assert [k for k, _ in ours.named_parameters()] == list(named)
    for key, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, named[key].grad.numpy(), err_msg=key, **TOLERANCE)


@pytest.mark.parametrize("build, shape", [(mlp, (6, 5)), (convnet, (3, 2, 12, 11))], ids=["mlp", "convnet"])
def test_forward_and_backward_match_pytorch(build, shape):
    ours, theirs = pair(build)
    x = rng.standard_normal(shape)
    targets = rng.integers(0, ours[-1].out_features, shape[0])
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(xo), theirs(xt)
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **TOLERANCE)
    loss_o = F.cross_entropy(out_o, targets)
    loss_t = torch.nn.functional.cross_entropy(out_t, torch.tensor(targets))
    np.testing.assert_allclose(loss_o.item(), loss_t.item(), **TOLERANCE)
    loss_o.backward()
    loss_t.backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOLERANCE)
    assert_same_gradients(ours, theirs)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)], ids=str)
def test_pooling_with_ties_matches_pytorch(kernel, stride):
    x = rng.integers(0, 3, (2, 2, 7, 8)).astype(np.float64)  # many ties inside the windows
    g = rng.standard_normal(F.max_pool2d(Tensor(x), kernel, stride).shape)
    for ours_fn, theirs_fn in [(F.max_pool2d, torch.nn.functional.max_pool2d),
                               (F.avg_pool2d, torch.nn.functional.avg_pool2d)]:
        xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
        out_o, out_t = ours_fn(xo, kernel, stride), theirs_fn(xt, kernel, stride)
        np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **TOLERANCE)
        out_o.backward(g)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOLERANCE)


def test_max_pool_indices_match_pytorch():
    x = rng.integers(0, 3, (2, 3, 6, 6)).astype(np.float64)
    _, index = F.max_pool2d_with_indices(Tensor(x), 3, 3)
    _, torch_index = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 3, return_indices=True)
    rows, cols = np.divmod(torch_index.numpy(), 6)  # torch: flat position in the whole image
    oh, ow = np.meshgrid(np.arange(2), np.arange(2), indexing="ij")
    np.testing.assert_array_equal(index, (rows - 3 * oh) * 3 + (cols - 3 * ow))


def test_max_reduction_ties_match_torch_amax():
    x = rng.integers(0, 3, (3, 4, 5)).astype(np.float64)
    for axis in [None, 1, (0, 2)]:
        xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
        dims = tuple(range(3)) if axis is None else axis
        out_o, out_t = xo.max(axis=axis), torch.amax(xt, dim=dims)
        g = rng.standard_normal(out_t.shape)
        out_o.backward(g)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOLERANCE)


@pytest.mark.parametrize("name", ["log_softmax", "softmax", "cross_entropy", "mse_mean", "mse_sum"])
def test_losses_and_softmax_match_pytorch(name):
    tf = torch.nn.functional
    logits = rng.standard_normal((6, 4)) * 5
    logits[0] += 1e4  # huge logits stay finite and exact
    targets = rng.integers(0, 4, 6)
    regression = rng.standard_normal((6, 4))
    ours, theirs = {
        "log_softmax": (lambda x: F.log_softmax(x, axis=0), lambda x: tf.log_softmax(x, dim=0)),
        "softmax": (lambda x: F.softmax(x), lambda x: tf.softmax(x, dim=-1)),
        "cross_entropy": (lambda x: F.cross_entropy(x, targets), lambda x: tf.cross_entropy(x, torch.tensor(targets))),
        "mse_mean": (lambda x: F.mse_loss(x, regression), lambda x: tf.mse_loss(x, torch.tensor(regression))),
        "mse_sum": (lambda x: F.mse_loss(x, regression, "sum"),
                    lambda x: tf.mse_loss(x, torch.tensor(regression), reduction="sum")),
    }[name]
    xo, xt = Tensor(logits.copy(), requires_grad=True), torch.tensor(logits, requires_grad=True)
    out_o, out_t = ours(xo), theirs(xt)
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **TOLERANCE)
    g = rng.standard_normal(out_t.shape)
    out_o.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **TOLERANCE)


SGD_OPTIONS = {
    "plain": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "dampening": dict(momentum=0.9, dampening=0.5),
    "weight_decay+momentum": dict(momentum=0.9, weight_decay=1e-2),
}


@pytest.mark.parametrize("options", SGD_OPTIONS.values(), ids=SGD_OPTIONS.keys())
def test_five_sgd_steps_match_torch_optim_sgd(options):
    ours, theirs = pair(mlp)
    optimizer_o = SGD(ours.parameters(), lr=0.1, **options)
    optimizer_t = torch.optim.SGD(theirs.parameters(), lr=0.1, **options)
    for _ in range(5):
        x, targets = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
        optimizer_o.zero_grad()
        optimizer_t.zero_grad()
        F.cross_entropy(ours(Tensor(x)), targets).backward()
        torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(targets)).backward()
        optimizer_o.step()
        optimizer_t.step()
    state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, state[key].numpy(), err_msg=key, **TOLERANCE)
    assert not np.allclose(ours[0].weight.data, pair(mlp)[0][0].weight.data)  # the steps did move


@pytest.mark.parametrize("make_ours, make_theirs, fan_in", [
    (lambda: nn.Linear(100, 80), lambda: torch.nn.Linear(100, 80), 100),
    (lambda: nn.Conv2d(6, 40, (5, 3)), lambda: torch.nn.Conv2d(6, 40, (5, 3)), 90),
], ids=["Linear", "Conv2d"])
def test_default_initialization_has_pytorchs_bounds(make_ours, make_theirs, fan_in):
    manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make_ours(), make_theirs()
    bound = 1 / np.sqrt(fan_in)
    for name in ("weight", "bias"):
        values, reference = getattr(ours, name).data, getattr(theirs, name).detach().numpy()
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound and np.abs(reference).max() <= bound
        if values.size > 1000:
            assert np.abs(values).max() > 0.99 * bound
            assert abs(values.std() / reference.std() - 1) < 0.05
            assert abs(values.std() / (bound / np.sqrt(3)) - 1) < 0.05


def test_state_dict_keys_and_shapes_equal_pytorchs():
    for build in (mlp, convnet):
        ours, theirs = build(nn, np.float32), build(torch.nn, np.float32)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (key, value), reference in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert value.shape == tuple(reference.shape), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pytorch_weights_load_into_minidl_and_give_the_same_outputs(dtype):
    torch.manual_seed(1)
    theirs = convnet(torch.nn, dtype)
    ours = convnet(nn, dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((4, 2, 12, 11)).astype(dtype)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    out = ours(Tensor(x)).data
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-14)
