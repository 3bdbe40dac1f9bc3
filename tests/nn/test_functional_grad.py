"""Gradient checks (float64 central differences) of every layer, loss and activation, plus their values."""
import numpy as np
import pytest

from gradcheck import gradcheck
from minidl import Tensor, manual_seed, nn
from minidl.nn import functional as F
from minidl.nn import im2col

rng = np.random.default_rng(1)


def leaf(*shape, low=-1.0, high=1.0):
    return Tensor(rng.uniform(low, high, shape), requires_grad=True)


def distinct(*shape):
    """Values far apart compared to the finite-difference step, away from 0 (no ties, no kinks)."""
    values = (rng.permutation(int(np.prod(shape))) - int(np.prod(shape)) / 2 + 0.5) * 0.1
    return Tensor(values.reshape(shape), requires_grad=True)


def naive_conv2d(x, w, b, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return y if b is None else y + b[None, :, None, None]


def naive_pool(x, kernel, stride, reduce):
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    return y


# --------------------------------------------------------------------- linear and conv layers
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    layer = nn.Linear(4, 3, bias=bias, dtype=np.float64)
    x = leaf(5, 4)
    expected = x.data @ layer.weight.data.T + (layer.bias.data if bias else 0)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-14)
    assert len(list(layer.parameters())) == (2 if bias else 1)
    gradcheck(lambda: layer(x), [x] + list(layer.parameters()))


def test_functional_linear_on_leading_batch_axes():
    x, w, b = leaf(2, 3, 4), leaf(5, 4), leaf(5)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-14)
    gradcheck(lambda: F.linear(x, w, b), [x, w, b])
    gradcheck(lambda: F.linear(x, w), [x, w])


CONV_CASES = [  # (in, out, kernel, stride, padding, input H, W)
    (2, 3, 3, 1, 0, 5, 5),
    (2, 3, 3, 2, 1, 7, 6),
    (1, 2, (2, 3), 2, 1, 6, 7),
    (3, 2, (3, 1), (2, 1), (0, 2), 7, 4),
    (2, 2, 1, 1, 0, 3, 3),
    (1, 1, 4, 3, 2, 5, 5),
    (1, 2, 3, 2, 0, 6, 6),  # the last row and column are in no window
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(case, bias):
    cin, cout, kernel, stride, padding, h, w = case
    layer = nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias, dtype=np.float64)
    x = leaf(2, cin, h, w)
    expected = naive_conv2d(x.data, layer.weight.data, layer.bias.data if bias else None,
                            layer.stride, layer.padding)
    out = layer(x)
    assert out.shape == expected.shape
    assert out.shape[2] == im2col.output_size(h, layer.kernel_size[0], layer.stride[0], layer.padding[0])
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    gradcheck(lambda: layer(x), [x] + list(layer.parameters()))


def test_conv2d_on_a_non_contiguous_input():
    x = leaf(3, 4, 6, 5)
    view = x.transpose(1, 0, 2, 3)  # a strided (4, 3, 6, 5) view
    w = leaf(2, 3, 3, 2)
    np.testing.assert_allclose(F.conv2d(view, w, stride=2, padding=1).data,
                               naive_conv2d(x.data.transpose(1, 0, 2, 3), w.data, None, (2, 2), (1, 1)),
                               rtol=1e-12, atol=1e-14)
    gradcheck(lambda: F.conv2d(x.transpose(1, 0, 2, 3), w, stride=2, padding=1), [x, w])


# --------------------------------------------------------------------- pooling
POOL_CASES = [(2, None, 4, 4), (2, None, 5, 7), (3, 2, 7, 5), ((2, 3), (1, 2), 5, 7), (3, 1, 4, 4)]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool2d(case):
    kernel, stride, h, w = case
    layer = nn.MaxPool2d(kernel, stride)
    x = distinct(2, 2, h, w)
    out = layer(x)
    np.testing.assert_array_equal(out.data, naive_pool(x.data, layer.kernel_size, layer.stride, np.max))
    gradcheck(lambda: layer(x), [x])


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_avg_pool2d(case):
    kernel, stride, h, w = case
    layer = nn.AvgPool2d(kernel, stride)
    x = leaf(2, 2, h, w)
    np.testing.assert_allclose(layer(x).data, naive_pool(x.data, layer.kernel_size, layer.stride, np.mean),
                               rtol=1e-14)
    gradcheck(lambda: layer(x), [x])


def test_max_pool_indices_are_the_first_maximum_of_each_window():
    x = Tensor(np.array([[[[1.0, 5.0, 5.0, 0.0],
                           [5.0, 2.0, 0.0, 7.0],
                           [3.0, 3.0, 9.0, 9.0],
                           [3.0, 3.0, 9.0, 9.0]]]]), requires_grad=True)
    y, index = F.max_pool2d_with_indices(x, 2)
    np.testing.assert_array_equal(y.data, [[[[5, 7], [3, 9]]]])
    np.testing.assert_array_equal(index, [[[[1, 3], [0, 0]]]])
    y.sum().backward()  # as PyTorch: the whole gradient goes to the first maximum
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_overlapping_max_pool_windows_add_their_gradients():
    x = Tensor(np.array([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    assert x.grad[0, 0, 1, 1] == 4 and x.grad.sum() == 4


# --------------------------------------------------------------------- activations, shape, regularization
def test_relu():
    x = distinct(3, 4)
    np.testing.assert_array_equal(nn.ReLU()(x).data, np.maximum(x.data, 0))
    gradcheck(lambda: nn.ReLU()(x), [x])
    zero = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(zero).sum().backward()
    np.testing.assert_array_equal(zero.grad, [0, 0, 1])  # 0 at the kink, as PyTorch


def test_flatten():
    x = leaf(2, 3, 2, 2)
    assert nn.Flatten()(x).shape == (2, 12)
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.data.reshape(2, 12))
    gradcheck(lambda: nn.Flatten()(x), [x])
    assert F.flatten(x, start_axis=2).shape == (2, 3, 4)


def test_dropout_with_a_fixed_mask():
    layer = nn.Dropout(0.4)
    x = leaf(6, 7)

    def forward():
        manual_seed(3)
        return layer(x)
    out = forward().data
    kept = out != 0
    np.testing.assert_allclose(out[kept], x.data[kept] / 0.6, rtol=1e-15)
    assert 0 < kept.sum() < kept.size
    gradcheck(forward, [x])


def test_dropout_drops_a_fraction_p_and_keeps_the_mean():
    manual_seed(0)
    x = Tensor(np.ones((200, 500), np.float32))
    out = F.dropout(x, 0.3, training=True).data
    assert out.dtype == np.float32
    assert abs((out == 0).mean() - 0.3) < 0.005  # 100 000 draws: std of the fraction is 0.0015
    assert abs(out.mean() - 1.0) < 0.01
    np.testing.assert_allclose(np.unique(out), [0, 1 / 0.7], rtol=1e-6)


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = leaf(3, 4)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0, training=True) is x
    assert F.dropout(x, 0.9, training=False) is x


def test_dropout_masks_differ_between_calls_and_follow_the_seed():
    x = Tensor(np.ones((10, 10)))
    manual_seed(5)
    first, second = F.dropout(x, 0.5).data, F.dropout(x, 0.5).data
    manual_seed(5)
    again = F.dropout(x, 0.5).data
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_gradient_perturbation_in_eval_is_the_identity_both_ways():
    layer = nn.GradientPerturbation(3.0).eval()
    x = leaf(4, 5)
    out = layer(x)
    np.testing.assert_array_equal(out.data, x.data)
    g = rng.standard_normal((4, 5))
    (out * Tensor(g)).sum().backward()
    np.testing.assert_array_equal(x.grad, g)
    gradcheck(lambda: layer(x), [x])


def test_gradient_perturbation_in_train_adds_noise_of_scale_times_the_gradient_std():
    manual_seed(0)
    layer = nn.GradientPerturbation(3.0)
    x = Tensor(np.zeros((100, 100), np.float32), requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.data, x.data)
    g = rng.normal(2.0, 0.5, (100, 100)).astype(np.float32)
    (out * Tensor(g)).sum().backward()
    assert x.grad.dtype == np.float32
    noise = (x.grad - g).astype(np.float64)
    expected_std = 3.0 * g.std()
    assert abs(noise.mean()) < 4 * expected_std / 100  # 10 000 draws: std of the mean is sigma / 100
    assert abs(noise.std() / expected_std - 1) < 0.03  # relative std of a sample std: 1 / sqrt(2 n) = 0.7 %
    assert abs(np.corrcoef(noise.ravel(), g.ravel())[0, 1]) < 0.05


def test_gradient_perturbation_scale_zero_leaves_the_gradient_alone():
    x = leaf(3, 3)
    gradcheck(lambda: F.gradient_perturbation(x, scale=0.0), [x])


# --------------------------------------------------------------------- softmax and losses
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis):
    x = leaf(3, 4, 2, low=-3, high=3)
    e = np.exp(x.data)
    expected = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(F.softmax(x, axis).data, expected, rtol=1e-14)
    np.testing.assert_allclose(F.log_softmax(x, axis).data, np.log(expected), rtol=1e-13, atol=1e-15)
    gradcheck(lambda: F.softmax(x, axis), [x])
    gradcheck(lambda: F.log_softmax(x, axis), [x])


def test_softmax_is_stable_with_huge_logits():
    x = Tensor(np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 2.0, -1e4]]), requires_grad=True)
    p = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()
    np.testing.assert_allclose(F.softmax(x).data[0], [p[0], p[1], 0.0], rtol=1e-14)
    np.testing.assert_allclose(F.log_softmax(x).data[1, 1], -np.log1p(2 * np.exp(-2.0)), rtol=1e-14)
    assert np.isfinite(F.log_softmax(x).data).all()
    loss = F.cross_entropy(x, np.array([2, 1]))
    np.testing.assert_allclose(loss.item(), (2e4 + np.log1p(np.exp(-1.0)) + np.log1p(2 * np.exp(-2.0))) / 2,
                               rtol=1e-13)
    loss.backward()
    assert np.isfinite(x.grad).all()


def test_cross_entropy():
    logits, targets = leaf(5, 4, low=-2, high=2), np.array([0, 3, 3, 1, 2])
    shifted = logits.data - logits.data.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(F.cross_entropy(logits, targets).item(),
                               -log_p[np.arange(5), targets].mean(), rtol=1e-14)
    gradcheck(lambda: F.cross_entropy(logits, targets), [logits])
    gradcheck(lambda: F.cross_entropy(logits, Tensor(targets)) * 3.0, [logits])


def test_cross_entropy_by_hand():
    logits = Tensor(np.array([[0.0, np.log(3.0)]]), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1]))
    np.testing.assert_allclose(loss.item(), np.log(4 / 3), rtol=1e-15)
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[0.25, -0.25]], rtol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss(reduction):
    prediction, target = leaf(4, 3), rng.standard_normal((4, 3))
    squared = (prediction.data - target) ** 2
    expected = squared.mean() if reduction == "mean" else squared.sum()
    np.testing.assert_allclose(F.mse_loss(prediction, target, reduction).item(), expected, rtol=1e-14)
    target_tensor = leaf(4, 3)
    gradcheck(lambda: F.mse_loss(prediction, target_tensor, reduction), [prediction, target_tensor])


def test_mse_loss_by_hand():
    prediction = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = F.mse_loss(prediction, np.array([0.0, 4.0]))
    assert loss.item() == 2.5
    loss.backward()
    np.testing.assert_array_equal(prediction.grad, [1.0, -2.0])
    assert F.mse_loss(prediction, np.array([0.0, 4.0]), reduction="sum").item() == 5.0


def test_exponential_loss():
    prediction = leaf(6, 1)
    target = np.array([[1.0], [-1.0], [1.0], [1.0], [-1.0], [-1.0]])
    np.testing.assert_allclose(F.exponential_loss(prediction, target).item(),
                               np.exp(-target * prediction.data).mean(), rtol=1e-14)
    gradcheck(lambda: F.exponential_loss(prediction, target), [prediction])
    by_hand = Tensor(np.array([0.0, np.log(2.0)]), requires_grad=True)
    loss = F.exponential_loss(by_hand, np.array([1.0, -1.0]))
    np.testing.assert_allclose(loss.item(), (1 + 2) / 2, rtol=1e-15)
    loss.backward()
    np.testing.assert_allclose(by_hand.grad, [-0.5, 1.0], rtol=1e-15)


# --------------------------------------------------------------------- im2col
def test_windows_is_a_zero_copy_view_and_add_windows_is_its_adjoint():
    x = rng.standard_normal((2, 3, 7, 6))
    for kernel, stride in [((3, 2), (2, 1)), ((2, 2), (2, 2)), ((1, 3), (3, 2))]:
        win = im2col.windows(x, kernel, stride)
        assert np.shares_memory(win, x)
        oh, ow = win.shape[2:4]
        assert (oh, ow) == (im2col.output_size(7, kernel[0], stride[0], 0),
                            im2col.output_size(6, kernel[1], stride[1], 0))
        np.testing.assert_array_equal(win[1, 2, oh - 1, 1], x[1, 2, (oh - 1) * stride[0]:(oh - 1) * stride[0]
                                                                + kernel[0], stride[1]:stride[1] + kernel[1]])
        grads = rng.standard_normal(kernel + (2, 3, oh, ow))
        adjoint = im2col.add_windows(np.zeros_like(x), grads, stride)
        np.testing.assert_allclose((win * grads.transpose(2, 3, 4, 5, 0, 1)).sum(), (x * adjoint).sum(),
                                   rtol=1e-12)


def test_pad_and_unpad():
    x = rng.standard_normal((1, 2, 3, 4))
    padded = im2col.pad(x, (1, 2))
    assert padded.shape == (1, 2, 5, 8) and padded[..., 0, :].sum() == 0 and padded[..., :, :2].sum() == 0
    np.testing.assert_array_equal(im2col.unpad(padded, (1, 2)), x)
    assert im2col.pad(x, (0, 0)) is x
