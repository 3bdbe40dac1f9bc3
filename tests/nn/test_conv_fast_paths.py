"""The fast paths of convolution and pooling against their plain versions, PyTorch and finite differences.

Fast paths: the input gradient of a stride-1 convolution as one transposed convolution (against col2im's
slice-adds), col2im and pooling backward writing each element once where windows do not overlap, the
channel-major layout, scratch arrays reused from the workspace; plus the argument checks of the
functional API and the im2col memory limit.
"""
import numpy as np
import pytest

from gradcheck import gradcheck
from minidl import Tensor, checks, nn
from minidl.nn import functional as F
from minidl.nn import im2col, workspace

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests")
rng = np.random.default_rng(7)

# (N, C, H, W), (O, KH, KW), stride, padding: odd sizes, padding wider than the kernel's reach,
# stride != kernel, stride == kernel, stride > kernel
CONV_CASES = [((2, 3, 7, 6), (4, 3, 3), (1, 1), (1, 1)),
              ((2, 2, 5, 9), (3, 3, 2), (1, 1), (0, 1)),
              ((1, 3, 6, 6), (2, 1, 1), (1, 1), (0, 0)),
              ((2, 2, 5, 5), (3, 3, 3), (1, 1), (3, 2)),
              ((2, 3, 9, 7), (2, 3, 3), (2, 1), (1, 0)),
              ((2, 2, 8, 6), (3, 2, 2), (2, 2), (0, 0)),
              ((2, 2, 9, 7), (3, 2, 2), (3, 3), (1, 1))]


def conv_case(case, dtype=np.float64):
    shape, (o, kh, kw), stride, padding = case
    x = Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
    w = Tensor(rng.standard_normal((o, shape[1], kh, kw)).astype(dtype), requires_grad=True)
    b = Tensor(rng.standard_normal(o).astype(dtype), requires_grad=True)
    return x, w, b, stride, padding


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_pytorch_forward_and_backward(case):
    x, w, b, stride, padding = conv_case(case)
    y = F.conv2d(x, w, b, stride, padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    xt, wt, bt = (torch.tensor(t.data, requires_grad=True) for t in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride, padding)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in [(x, xt), (w, wt), (b, bt)]:
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_gradients_match_central_differences(case):
    x, w, b, stride, padding = conv_case(case)
    gradcheck(lambda: F.conv2d(x, w, b, stride, padding), [x, w, b])


def route_and_plain_col2im(case, route):
    """(the input gradient by the named route of _Conv2d, the same by the plain col2im) for one case."""
    x, w, _, stride, padding = conv_case(case)
    function = F._Conv2d(stride, padding)
    function.inputs = [x, w]
    y = function.forward(x.data, w.data)
    g = rng.standard_normal(y.shape)
    g_rows = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(y.shape[1], -1)
    return getattr(function, route)(g), function._grad_input_col2im(g_rows)


@pytest.mark.parametrize("chunk_bytes", [F.TRANSPOSED_CHUNK_BYTES, 1])  # whole batch, one sample a chunk
# the transposed route is exact for any stride-1 convolution with padding below the kernel size
@pytest.mark.parametrize("case", [c for c in CONV_CASES if c[2] == (1, 1) and c[3][0] < c[1][1]], ids=str)
def test_transposed_input_gradient_equals_the_plain_col2im(case, chunk_bytes, monkeypatch):
    monkeypatch.setattr(F, "TRANSPOSED_CHUNK_BYTES", chunk_bytes)
    np.testing.assert_allclose(*route_and_plain_col2im(case, "_grad_input_transposed"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c[2] == (1, 1)] +
                         [((3, 2, 6, 5), (5, 2, 3), (1, 1), (0, 0)), ((0, 2, 4, 4), (3, 3, 3), (1, 1), (1, 1))],
                         ids=str)
def test_col2im_on_the_flattened_grid_equals_the_plain_col2im(case):
    np.testing.assert_allclose(*route_and_plain_col2im(case, "_grad_input_flat"), rtol=1e-12, atol=1e-12)


def test_put_windows_equals_add_windows_where_windows_do_not_overlap():
    for kernel, stride, size in [((2, 2), (2, 2), (6, 8)), ((2, 3), (3, 3), (7, 8)), ((2, 2), (2, 2), (5, 7))]:
        oh, ow = (size[0] - kernel[0]) // stride[0] + 1, (size[1] - kernel[1]) // stride[1] + 1
        grads = rng.standard_normal(kernel + (2, 3, oh, ow))
        target = np.full((2, 3) + size, np.nan)  # every element must be written
        put = im2col.put_windows(target, grads, stride)
        np.testing.assert_array_equal(put, im2col.add_windows(np.zeros((2, 3) + size), grads, stride))


def test_a_convolution_block_matches_pytorch_over_repeated_steps_and_two_live_graphs():
    """Scratch arrays are reused across steps, never while a graph still holds them."""
    ours = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 5, 3, dtype=np.float64), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5, 2, dtype=np.float64))
    t = torch.nn
    theirs = t.Sequential(t.Conv2d(3, 4, 3, padding=1), t.ReLU(), t.MaxPool2d(2), t.Conv2d(4, 5, 3),
                          t.ReLU(), t.Flatten(), t.Linear(5, 2)).double()
    with torch.no_grad():
        for key, value in ours.state_dict().items():
            theirs.state_dict()[key].copy_(torch.tensor(np.asarray(value)))
    for step in range(3):
        x1, x2 = rng.standard_normal((2, 4, 3, 6, 6))
        ours.zero_grad()
        theirs.zero_grad()
        first = ours(Tensor(x1)).sum()
        second = (ours(Tensor(x2)) * 2.0).sum()  # a second graph while the first is alive
        (first + second).backward()
        (theirs(torch.tensor(x1)).sum() + (theirs(torch.tensor(x2)) * 2.0).sum()).backward()
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


# --------------------------------------------------------------------- pooling
NAN, INF = np.nan, np.inf
POOL_CASES = [(2, None, (4, 4)), (2, None, (5, 7)), (3, 2, (7, 5)), ((2, 3), (1, 2), (5, 7)), (2, 3, (8, 8))]


def special_values(shape):
    """Values full of ties, NaN, +-inf and signed zeros."""
    choices = np.array([NAN, INF, -INF, 0.0, -0.0, 1.0, 1.0, -2.0, 3.0, 3.0])
    return choices[rng.integers(0, len(choices), shape)]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool_matches_pytorch_with_nan_inf_and_ties(case):
    kernel, stride, size = case
    x = special_values((2, 3) + size)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, index = F.max_pool2d_with_indices(xo, kernel, stride)
    yt, flat = torch.nn.functional.max_pool2d(xt, kernel, stride, return_indices=True)
    np.testing.assert_array_equal(yo.data, yt.detach().numpy())  # NaN where torch has NaN
    (_, kw), (sh, sw) = checks.pair(kernel, "k", "t"), checks.pair(stride or kernel, "s", "t")
    oh, ow = yo.shape[2:]
    rows = np.arange(oh)[:, None] * sh + index // kw
    cols = np.arange(ow)[None, :] * sw + index % kw
    np.testing.assert_array_equal(rows * size[1] + cols, flat.numpy())
    g = rng.standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-14, atol=0)  # order of sums


@pytest.mark.parametrize("layout", ["batch-major", "channel-major"])
def test_the_2x2_route_picks_pytorchs_index_in_every_window_of_ties_and_nan(layout):
    values = np.array([NAN, 1.0, 0.0])
    windows = np.array(np.meshgrid(values, values, values, values, indexing="ij")).reshape(4, -1).T  # 81
    x = windows.reshape(9, 9, 2, 2).transpose(0, 2, 1, 3).reshape(1, 1, 18, 18)  # each window once
    x = np.concatenate([x, -x], axis=1).astype(np.float32)  # and the negated windows, channel 1
    if layout == "channel-major":
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    y, index = F.max_pool2d_with_indices(Tensor(x), 2)
    yt, flat = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(y.data, yt.numpy())
    rows, cols = np.arange(9)[:, None] * 2 + index // 2, np.arange(9)[None, :] * 2 + index % 2
    np.testing.assert_array_equal(rows * 18 + cols, flat.numpy())


def test_max_pool_propagates_a_nan_gradient_only_through_the_chosen_element():
    x = Tensor(np.array([[[[1.0, 4.0], [2.0, 3.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[np.nan]]]]))
    assert np.isnan(x.grad[0, 0, 0, 1]) and np.count_nonzero(np.isnan(x.grad)) == 1
    assert np.all(x.grad[0, 0].ravel()[[0, 2, 3]] == 0)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_avg_pool_matches_pytorch_and_central_differences(case):
    kernel, stride, size = case
    x = rng.standard_normal((2, 3) + size)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = F.avg_pool2d(xo, kernel, stride), torch.nn.functional.avg_pool2d(xt, kernel, stride)
    g = rng.standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-12)
    gradcheck(lambda: F.avg_pool2d(xo, kernel, stride), [xo])


def test_pooling_keeps_the_channel_major_layout_of_a_convolution():
    x = Tensor(rng.standard_normal((3, 2, 6, 6)).astype(np.float32))
    y = F.conv2d(x, Tensor(rng.standard_normal((4, 2, 3, 3)).astype(np.float32)), padding=1)
    assert im2col.channel_major(y.data)
    pooled = F.max_pool2d(F.relu(y), 2)
    assert im2col.channel_major(pooled.data) and pooled.dtype == np.float32


# --------------------------------------------------------------------- workspace
def test_workspace_reuses_an_array_only_once_nothing_refers_to_it():
    workspace.clear()
    a = workspace.empty((3, 5), np.float32)
    view = a[1:]
    del a
    b = workspace.empty((3, 5), np.float32)
    assert not np.shares_memory(b, view)  # the view keeps the first array in use
    address = b.__array_interface__["data"][0]
    del b
    c = workspace.empty((3, 5), np.float32)
    assert c.__array_interface__["data"][0] == address  # free again: reused
    assert workspace.empty((3, 5), np.float64).dtype == np.float64
    workspace.clear()
    assert workspace.held_bytes() == 0


def test_workspace_drops_free_arrays_beyond_its_limit(monkeypatch):
    workspace.clear()
    monkeypatch.setattr(workspace, "limit_bytes", 1000)
    kept = workspace.empty((100,), np.float64)  # 800 bytes, in use
    workspace.empty((50,), np.float64)  # 400 bytes, free as soon as it is dropped
    assert workspace.held_bytes() == 1200  # both were in use when the pool last looked
    newest = workspace.empty((10,), np.float64)  # the free array goes, to stay within the limit
    assert workspace.held_bytes() == 880
    del kept, newest
    workspace.clear()


# --------------------------------------------------------------------- argument checks and memory
def tensor(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(tensor(1, 2, 5, 5), tensor(3, 2, 3, 3), stride=0), ValueError, "conv2d: stride"),
    (lambda: F.conv2d(tensor(1, 2, 5, 5), tensor(3, 2, 3, 3), padding=-1), ValueError, "conv2d: padding"),
    (lambda: F.conv2d(tensor(1, 2, 5, 5), tensor(3, 2, 3, 3), stride=1.5), TypeError, "conv2d: stride"),
    (lambda: F.conv2d(tensor(1, 2, 5, 5), tensor(3, 4, 3, 3)), ValueError, "conv2d: the input has 2 channels"),
    (lambda: F.conv2d(tensor(1, 2, 2, 5), tensor(3, 2, 3, 3)), ValueError, "smaller than the kernel"),
    (lambda: F.conv2d(tensor(2, 5, 5), tensor(3, 2, 3, 3)), ValueError, "conv2d: expected input"),
    (lambda: F.conv2d(tensor(1, 2, 5, 5), tensor(3, 2, 3, 3), tensor(2)), ValueError, "conv2d: expected a bias"),
    (lambda: F.max_pool2d(tensor(1, 1, 4, 4), 0), ValueError, "max_pool2d: kernel_size"),
    (lambda: F.max_pool2d(tensor(1, 1, 4, 4), 2, stride=0), ValueError, "max_pool2d: stride"),
    (lambda: F.max_pool2d(tensor(1, 1, 4, 4), 5), ValueError, "max_pool2d: the kernel"),
    (lambda: F.avg_pool2d(tensor(1, 1, 3, 3), 4), ValueError, "avg_pool2d: the kernel"),
    (lambda: F.avg_pool2d(tensor(1, 1, 3, 3), 0), ValueError, "avg_pool2d: kernel_size"),
    (lambda: F.avg_pool2d(tensor(1, 3, 3), 2), ValueError, "avg_pool2d: expected input"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 2, 5, 5), np.int64)), tensor(3, 2, 3, 3)), TypeError,
     "conv2d: the input must be a floating-point array, got dtype int64"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4), np.uint8)), 2), TypeError,
     "max_pool2d: the input must be a floating-point array"),
])
def test_bad_convolution_and_pooling_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_im2col_matrix_above_the_limit_is_refused_before_any_allocation():
    x = tensor(64, 3, 32, 32)
    needed = im2col.column_bytes(x.shape, (3, 3), (1, 1), (1, 1), 4)
    assert needed == 3 * 9 * 64 * 32 * 32 * 4
    with pytest.raises(ValueError, match=f"conv2d: .*needs {needed} bytes.*max_bytes=1000"):
        F.conv2d(x, tensor(8, 3, 3, 3), padding=1, max_bytes=1000)
    layer = nn.Conv2d(3, 8, 3, padding=1, max_bytes=needed - 1)
    with pytest.raises(ValueError, match=rf"Conv2d\(3, 8, kernel_size=\(3, 3\).*needs {needed} bytes"):
        layer(x)
    assert nn.Conv2d(3, 8, 3, padding=1, max_bytes=needed)(x).shape == (64, 8, 32, 32)
    with pytest.raises(ValueError, match="Conv2d: max_bytes"):
        nn.Conv2d(3, 8, 3, max_bytes=0)


def test_steady_state_training_allocates_no_new_scratch_arrays():
    workspace.clear()
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3),
                          nn.Flatten())
    x = Tensor(rng.standard_normal((3, 2, 8, 8)).astype(np.float32), requires_grad=True)
    held = []
    for _ in range(4):
        loss = model(x).sum()  # the previous step's graph is still alive here, as in a training loop
        loss.backward()
        held.append(workspace.held_bytes())
    assert held[0] > 0 and held[2] == held[3]  # two sets at most (the live graph and this step)
    workspace.clear()
