"""Every op at the edges: NaN, +-inf, +-0, ties and empty tensors, forward values and gradients against
PyTorch (float64).

One row per op of ``minidl.autograd`` and ``minidl.nn.functional``: its inputs (float64 arrays built from
the edge values, every one requiring a gradient), the minidl expression and the PyTorch one. Values and
gradients must agree, NaN for NaN, infinity for infinity, and the values' zeros must have the same sign
(the sign of a zero gradient follows how each library arranges the same formula, and is not compared).
Where PyTorch has a convention at a boundary (relu'(0) = 0, pow's gradients at a zero base or exponent,
ties sharing the gradient of amax, max pooling choosing NaN), minidl follows it.

The gradient flowing into each op of the table is finite; the ops that route a gradient by selection
(relu, max pooling) are also checked with NaN and infinite gradients flowing in, which must reach only the
selected elements (0 elsewhere, as PyTorch: not the NaN of inf * 0).

Dropout and gradient_perturbation are left out: their masks and noise come from minidl's generator, which
PyTorch cannot reproduce (tests/nn/test_functional_grad.py checks them with fixed masks).
"""
import math

import numpy as np
import pytest

from minidl import Tensor
from minidl.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the edge-value table")
TF = torch.nn.functional

nan, inf = math.nan, math.inf
EDGES = np.array([nan, inf, -inf, 0.0, -0.0, 1.5, -1.5, 2.0, 2.0])  # 2.0 twice: a tie
A, B = (grid.ravel() for grid in np.meshgrid(EDGES, EDGES, indexing="ij"))  # every pair of edge values
ROWS = np.array([[nan, 1.0, 2.0],  # reductions and softmax: one edge case per row
                 [inf, inf, 1.0],
                 [-inf, -inf, -inf],
                 [0.0, -0.0, -1.0],
                 [2.0, 2.0, 1.0],
                 [inf, -inf, 0.0],
                 [nan, inf, nan],
                 [-inf, 3.0, -inf]])
MATRIX = np.array([[nan, 1.0, 0.0], [inf, 2.0, -1.0], [-inf, 0.0, 3.0], [-0.0, 1.5, 1.5]])
WEIGHTS = np.array([[1.0, -0.0, 2.0], [0.0, inf, -1.0]])
# four 2x2 pooling windows per channel: NaN, infinities, signed zeros, ties
IMAGE = np.array([[[[nan, 1.0, inf, inf],
                    [2.0, 3.0, 0.0, -inf],
                    [-inf, -inf, 0.0, -0.0],
                    [-inf, -inf, -0.0, 0.0]],
                   [[1.0, 2.0, 5.0, nan],
                    [2.0, 1.0, nan, 5.0],
                    [-1.0, -1.0, inf, -inf],
                    [-1.0, -1.0, nan, -inf]]]])
KERNEL = np.array([[[[1.0, 0.0], [-0.0, 2.0]]], [[[inf, 1.0], [0.5, -1.0]]]])


def row(name, inputs, ours, theirs=None, signed_zeros=True):
    """One op: ``ours`` on minidl Tensors, ``theirs`` on torch tensors (the same expression if omitted).

    ``signed_zeros=False`` where the sign of a zero result is unspecified: the maximum of a tied +0 and
    -0 (NumPy's reduction returns the last, PyTorch's the first), relu(-0) (NumPy's maximum gives +0,
    PyTorch -0).
    """
    return pytest.param(inputs, ours, theirs or ours, signed_zeros, id=name)


TABLE = [
    # minidl.autograd
    row("add", (A, B), lambda a, b: a + b),
    row("sub", (A, B), lambda a, b: a - b),
    row("mul", (A, B), lambda a, b: a * b),
    row("div", (A, B), lambda a, b: a / b),
    row("neg", (EDGES,), lambda x: -x),
    row("pow", (A, B), lambda a, b: a ** b),
    row("pow_exponent_0", (EDGES,), lambda x: x ** 0.0),
    row("pow_exponent_2", (EDGES,), lambda x: x ** 2.0),
    row("pow_exponent_1.5", (EDGES,), lambda x: x ** 1.5),
    row("pow_exponent_3", (EDGES,), lambda x: x ** 3.0),
    row("pow_exponent_minus_1", (EDGES,), lambda x: x ** -1.0),
    row("pow_base_0", (EDGES,), lambda x: 0.0 ** x),
    row("pow_base_2", (EDGES,), lambda x: 2.0 ** x),
    row("exp", (EDGES,), lambda x: x.exp()),
    row("log", (EDGES,), lambda x: x.log()),
    row("astype", (np.append(EDGES, [1e300, -1e300, 1e-320]),),
        lambda x: x.astype(np.float32), lambda x: x.float()),
    row("matmul", (MATRIX, WEIGHTS.T), lambda a, b: a @ b),
    row("matmul_vector", (MATRIX[0], MATRIX[1:].T), lambda a, b: a @ b),
    row("reshape", (MATRIX,), lambda x: x.reshape(3, 4)),
    row("transpose", (MATRIX,), lambda x: x.T),
    row("getitem", (EDGES,), lambda x: x[np.array([0, 1, 1, 4, 8, 2])],
        lambda x: x[torch.tensor([0, 1, 1, 4, 8, 2])]),
    row("sum", (ROWS,), lambda x: x.sum(axis=1), lambda x: x.sum(dim=1)),
    row("sum_all", (ROWS,), lambda x: x.sum()),
    row("mean", (ROWS,), lambda x: x.mean(axis=1), lambda x: x.mean(dim=1)),
    row("max", (ROWS,), lambda x: x.max(axis=1), lambda x: x.amax(dim=1), signed_zeros=False),
    row("max_all", (ROWS[3:6],), lambda x: x.max(), lambda x: x.amax(), signed_zeros=False),
    row("max_keepdims", (ROWS.T,), lambda x: x.max(axis=0, keepdims=True),
        lambda x: x.amax(dim=0, keepdim=True), signed_zeros=False),
    # minidl.nn.functional
    row("relu", (EDGES,), F.relu, torch.relu, signed_zeros=False),
    row("softmax", (ROWS,), F.softmax, lambda x: torch.softmax(x, -1)),
    row("softmax_axis_0", (ROWS.T,), lambda x: F.softmax(x, axis=0), lambda x: torch.softmax(x, 0)),
    row("log_softmax", (ROWS,), F.log_softmax, lambda x: torch.log_softmax(x, -1)),
    row("linear", (MATRIX, WEIGHTS, np.array([0.0, -inf])), F.linear, TF.linear),
    row("conv2d", (IMAGE, KERNEL[:, :1].repeat(2, axis=1), np.array([-0.0, 1.0])),
        lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1)),
    row("max_pool2d", (IMAGE,), lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2),
        signed_zeros=False),
    row("max_pool2d_overlapping", (IMAGE,), lambda x: F.max_pool2d(x, 2, stride=1),
        lambda x: TF.max_pool2d(x, 2, stride=1), signed_zeros=False),
    row("avg_pool2d", (IMAGE,), lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2)),
    row("cross_entropy", (ROWS,), lambda x: F.cross_entropy(x, np.array([0, 1, 2, 0, 1, 2, 1, 1])),
        lambda x: TF.cross_entropy(x, torch.tensor([0, 1, 2, 0, 1, 2, 1, 1]))),
    row("mse_loss", (A, B), F.mse_loss, TF.mse_loss),
    row("mse_loss_sum", (A, B), lambda p, t: F.mse_loss(p, t, reduction="sum"),
        lambda p, t: TF.mse_loss(p, t, reduction="sum")),
    row("exponential_loss", (EDGES, np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0])),
        F.exponential_loss, lambda p, y: torch.exp(-(y * p)).mean()),
    row("flatten", (IMAGE,), F.flatten, lambda x: torch.flatten(x, 1)),
    # empty tensors
    row("empty_sum", (np.zeros((0, 3)),), lambda x: x.sum()),
    row("empty_mean", (np.zeros((0, 3)),), lambda x: x.mean(axis=0), lambda x: x.mean(dim=0)),
    row("empty_matmul", (np.zeros((0, 3)), np.ones((3, 2))), lambda a, b: a @ b),
    row("empty_inner_matmul", (np.zeros((2, 0)), np.zeros((0, 3))), lambda a, b: a @ b),
    row("empty_relu", (np.zeros((0,)),), F.relu, torch.relu),
    row("empty_softmax", (np.zeros((0, 3)),), F.softmax, lambda x: torch.softmax(x, -1)),
    row("empty_linear", (np.zeros((0, 3)), WEIGHTS), F.linear, TF.linear),
    row("empty_conv2d", (IMAGE[:0, :1], KERNEL), F.conv2d, TF.conv2d),
    row("empty_max_pool2d", (IMAGE[:0],), lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
    row("empty_avg_pool2d", (IMAGE[:0],), lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2)),
    row("empty_mse_loss", (np.zeros(0), np.zeros(0)), F.mse_loss, TF.mse_loss),
    row("empty_getitem", (EDGES,), lambda x: x[np.array([], dtype=np.int64)],
        lambda x: x[torch.tensor([], dtype=torch.int64)]),
]


def assert_same(ours, theirs, what, signed_zeros=False):
    """Equal arrays: NaN where NaN, infinities of the same sign, and with ``signed_zeros`` zeros of the
    same sign."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)
    if signed_zeros:
        zeros = theirs == 0
        np.testing.assert_array_equal(np.signbit(ours[zeros]), np.signbit(theirs[zeros]),
                                      err_msg=f"{what}: the signs of the zeros differ")


@pytest.mark.parametrize("inputs, ours, theirs, signed_zeros", TABLE)
def test_values_and_gradients_match_pytorch(inputs, ours, theirs, signed_zeros):
    mine = [Tensor(x.copy(), requires_grad=True) for x in inputs]
    reference = [torch.tensor(x, requires_grad=True) for x in inputs]
    with np.errstate(all="ignore"):  # NumPy warns where NaN or infinity is made; PyTorch does not
        out = ours(*mine)
        expected = theirs(*reference)
        assert_same(out.data, expected.detach().numpy(), "value", signed_zeros)
        upstream = np.random.default_rng(0).uniform(0.5, 1.5, out.shape).astype(out.dtype)
        out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (x, y) in enumerate(zip(mine, reference)):
        assert_same(x.grad, y.grad.numpy(), f"gradient of input {i}")


SELECTIONS = [
    pytest.param(EDGES, F.relu, torch.relu, id="relu"),
    pytest.param(IMAGE, lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), id="max_pool2d"),
    pytest.param(IMAGE, lambda x: F.max_pool2d(x, 2, stride=1), lambda x: TF.max_pool2d(x, 2, stride=1),
                 id="max_pool2d_overlapping"),
    pytest.param(np.pad(IMAGE, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=-1.0),
                 lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), id="max_pool2d_uncovered_border"),
]


@pytest.mark.parametrize("x, ours, theirs", SELECTIONS)
@pytest.mark.parametrize("bad", [nan, inf, -inf])
def test_selections_route_a_non_finite_gradient_to_the_selected_elements_only(x, ours, theirs, bad):
    mine, reference = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(reference)
    upstream = np.full(out.shape, bad)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert_same(mine.grad, reference.grad.numpy(), "gradient", signed_zeros=False)
    assert np.isfinite(mine.grad).sum() > 0  # some elements were not selected, and got 0


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize not in (12, 16), reason="long double is double here")
def test_selections_in_long_double_which_no_integer_type_matches():
    x = Tensor(np.array([[[[1.0, -2.0], [3.0, nan]]]], np.longdouble), requires_grad=True)
    F.relu(x).backward(np.array([[[[inf, inf], [2.0, 5.0]]]], np.longdouble))
    assert x.grad.dtype == np.longdouble
    np.testing.assert_array_equal(x.grad.ravel(), [inf, 0.0, 2.0, 5.0])
    x.grad = None
    F.max_pool2d(x, 2).backward(np.array([[[[inf]]]], np.longdouble))
    np.testing.assert_array_equal(x.grad.ravel(), [0.0, 0.0, 0.0, inf])  # the window's NaN is chosen


def test_relu_gradient_is_zero_where_not_selected_even_for_an_infinite_gradient():
    x = Tensor(np.array([-1.0, 0.0, 2.0, nan]), requires_grad=True)
    F.relu(x).backward(np.array([inf, nan, inf, -inf]))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, inf, -inf])


# ---- the failures found by hand, each with its right value (run without errstate: no warnings either)
def test_relu_maps_minus_infinity_to_zero_and_keeps_nan():
    x = Tensor(np.array([nan, inf, -inf, -1.5, 0.0, 2.0]), requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.data, [nan, inf, 0.0, 0.0, 0.0, 2.0])
    assert not np.signbit(y.data[3])  # relu(-1.5) is +0, not the -0 of -1.5 * 0
    y.backward(np.ones(6))
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0, 0.0, 0.0, 1.0])


def grads(a, b, expression):
    a, b = (Tensor(np.array(v), requires_grad=True) for v in (a, b))
    expression(a, b).sum().backward()
    return a.grad, b.grad


def test_pow_exponent_gradient_at_a_zero_base_is_zero():
    np.testing.assert_allclose(grads([0.0, 2.0], [1.0, 1.0], lambda a, b: a ** b)[1],
                               [0.0, 2 * math.log(2)], rtol=1e-15)


def test_pow_base_gradient_for_exponent_zero_is_zero_at_a_zero_base():
    x = Tensor(np.array([0.0]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0])


def test_pow_of_a_scalar_zero_base_by_exponents_0_1_2_has_gradient_1():
    p, k = grads(0.0, [0.0, 1.0, 2.0], lambda p, k: p ** k)
    assert p == 1.0
    np.testing.assert_array_equal(k, [0.0, 0.0, 0.0])


def test_pow_of_the_constant_zero_has_a_zero_exponent_gradient():
    y = Tensor(np.array([2.0, 0.5, 1.5]), requires_grad=True)
    (0.0 ** y).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])


def test_pow_zero_to_the_zero_has_zero_gradients():
    a, b = grads([0.0], [0.0], lambda a, b: a ** b)
    np.testing.assert_array_equal(a, [0.0])  # was NaN
    np.testing.assert_array_equal(b, [0.0])  # was -inf
