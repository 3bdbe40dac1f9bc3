"""BatchNorm1d/2d and Residual: float64 gradient checks, PyTorch parity, running statistics, errors."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, nn
from gradcheck import gradcheck


def _bn64(layer):
    for name in ("weight", "bias"):
        setattr(layer, name, nn.Parameter(np.asarray(np.random.default_rng(1).uniform(0.5, 1.5,
                                                                                       layer.num_features))))
    layer.running_mean = np.zeros(layer.num_features)
    layer.running_var = np.ones(layer.num_features)
    return layer


@pytest.mark.parametrize("layer, shape", [(nn.BatchNorm1d(3), (5, 3)), (nn.BatchNorm1d(2), (4, 2, 3)),
                                          (nn.BatchNorm2d(2), (3, 2, 3, 3))])
def test_batchnorm_gradients_in_training(layer, shape):
    layer = _bn64(layer)
    x = Tensor(np.random.default_rng(5).standard_normal(shape) * 2 + 1, requires_grad=True)
    gradcheck(lambda: layer(x), [x, layer.weight, layer.bias])


def test_batchnorm_gradients_in_evaluation():
    layer = _bn64(nn.BatchNorm2d(2)).eval()
    layer.running_mean = np.array([0.3, -0.2])
    layer.running_var = np.array([2.0, 0.5])
    x = Tensor(np.random.default_rng(0).standard_normal((2, 2, 3, 3)), requires_grad=True)
    gradcheck(lambda: layer(x), [x, layer.weight, layer.bias])


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])  # None: the cumulative average of all batches
def test_batchnorm_matches_torch_with_running_statistics(momentum):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for this comparison")
    rng = np.random.default_rng(0)
    ours = _bn64(nn.BatchNorm2d(3, momentum=momentum))
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    for step in range(3):
        x = rng.standard_normal((4, 3, 5, 5)) * (step + 1) + step
        xt = torch.from_numpy(x).requires_grad_(True)
        xm = Tensor(x, requires_grad=True)
        y_t, y_m = theirs(xt), ours(xm)
        g = rng.standard_normal(y_m.shape)
        y_t.backward(torch.from_numpy(g))
        y_m.backward(g)
        np.testing.assert_allclose(y_m.data, y_t.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(xm.grad, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-10)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((2, 3, 5, 5))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(),
                               atol=1e-10)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert ours.num_batches_tracked.dtype == np.int64 and ours.num_batches_tracked == 3
    assert theirs.num_batches_tracked.item() == 3
    assert f"momentum={momentum}" in repr(ours)


def test_batchnorm_cumulative_average_is_the_mean_of_the_batch_statistics():
    norm = _bn64(nn.BatchNorm1d(2, momentum=None))
    batches = [np.array([[0.0, 1.0], [2.0, 5.0]]), np.array([[4.0, 1.0], [6.0, 3.0]])]
    for x in batches:
        norm(Tensor(x))
    np.testing.assert_allclose(norm.running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0))
    np.testing.assert_allclose(norm.running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0))


def test_a_torch_batchnorm_state_dict_loads_strictly_both_ways():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for this comparison")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).train()
    theirs(torch.randn(8, 4))
    ours = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert ours[1].num_batches_tracked == 1
    np.testing.assert_array_equal(ours[1].running_var, theirs[1].running_var.numpy())
    ours.double()  # the count stays an integer
    assert ours[1].num_batches_tracked.dtype == np.int64
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.float().state_dict().items()})


def test_batchnorm_state_dict_carries_running_statistics():
    layer = nn.BatchNorm1d(2)
    layer(Tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)))
    copy = nn.BatchNorm1d(2)
    copy.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(copy.running_mean, [0.2, 0.4])
    np.testing.assert_allclose(copy.running_var, [0.9 + 0.1 * 2.0, 0.9 + 0.1 * 8.0])
    assert copy.running_mean.dtype == np.float32


def test_batchnorm_rejects_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input \(N, C, H, W\) with C = 3"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 4, 3, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="BatchNorm1d: training needs more than one value"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((1, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm1d(0)


def test_residual_adds_the_shortcut_and_its_gradient():
    minidl.manual_seed(0)
    body = nn.Sequential(nn.Linear(4, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 4, dtype=np.float64))
    block = nn.Residual(body)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    np.testing.assert_allclose(block(x).data, body(x).data + x.data)
    gradcheck(lambda: block(x), [x, body[0].weight, body[2].bias])
    assert [k for k, _ in block.named_parameters()] == ["body.0.weight", "body.0.bias",
                                                         "body.2.weight", "body.2.bias"]


def test_residual_with_projection_shortcut_and_shape_error():
    minidl.manual_seed(0)
    block = nn.Residual(nn.Linear(4, 2, dtype=np.float64), shortcut=nn.Linear(4, 2, bias=False,
                                                                             dtype=np.float64))
    x = Tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    gradcheck(lambda: block(x), [x, block.shortcut.weight])
    with pytest.raises(ValueError, match=r"Residual: the body gives shape \(3, 2\) but the shortcut"):
        nn.Residual(nn.Linear(4, 2))(Tensor(np.zeros((3, 4), dtype=np.float32)))
