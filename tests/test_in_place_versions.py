"""In-place updates by the library bump a tensor's version; a backward pass that needs an updated value
raises instead of giving a wrong gradient (as PyTorch's "modified by an inplace operation" error)."""
import re

import numpy as np
import pytest

from minidl import Tensor, init, nn
from minidl.analysis import regularizers
from minidl.optim import SGD


def mul_error(position, shape, version):
    return re.escape(f"one of the variables needed for gradient computation has been modified by an "
                     f"in-place operation: input {position} of Mul, of shape {shape}, is at version "
                     f"{version}; expected version 0")


def test_a_step_between_two_backward_passes_names_the_op_that_saved_the_weight():
    w = Tensor(np.ones(2), requires_grad=True)
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    wx = w * x
    first, second = wx.sum(), (wx * x).sum()
    first.backward()
    SGD([w], lr=0.5).step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match=mul_error(0, (2,), 1)):
        second.backward()  # silently gave dx = [3, 5] with the stepped w; right is [4, 6]


def test_without_the_step_the_second_backward_is_right():
    w = Tensor(np.ones(2), requires_grad=True)
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    wx = w * x
    first, second = wx.sum(), (wx * x).sum()
    first.backward()
    x.grad = None
    second.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 6.0])


def test_ops_that_do_not_read_an_updated_input_still_backpropagate():
    w = Tensor(np.ones(3), requires_grad=True)
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    loss = ((w + x) * x).sum() - w.reshape(3, 1).T.sum()  # Add, Reshape, Transpose, Sum keep no values
    w.grad = np.zeros(3)
    SGD([w], lr=0.1).step()
    assert w._version == 1
    loss.backward()
    np.testing.assert_array_equal(w.grad, [0.0, 1.0, 2.0])  # x - 1
    np.testing.assert_array_equal(x.grad, [3.0, 5.0, 7.0])  # w + 2x with the forward's w


def test_initializers_and_singular_value_updates_bump_the_version():
    layer = nn.Linear(3, 2, dtype=np.float64)
    before = layer.weight._version
    init.normal(layer.weight)
    assert layer.weight._version == before + 1
    loss = layer(Tensor(np.ones((1, 3)))).sum()
    regularizers.bound_singular_values(layer, eps=0.1)
    assert layer.weight._version == before + 2
    with pytest.raises(RuntimeError, match="input 1 of Linear, of shape \\(2, 3\\), is at version"):
        loss.backward()
    svd = regularizers.SVDLinear(3, 2)
    versions = [p._version for p in (svd.U, svd.S, svd.V)]
    svd.orthonormalize()
    assert [p._version for p in (svd.U, svd.S, svd.V)] == [v + 1 for v in versions]


def test_batch_norm_needs_the_scale_it_was_run_with():
    layer = nn.BatchNorm1d(2, dtype=np.float64)
    loss = layer(Tensor(np.array([[1.0, 2.0], [3.0, 5.0]]), requires_grad=True)).sum()
    layer.weight.grad = np.ones(2)
    SGD([layer.weight], lr=0.1).step()
    with pytest.raises(RuntimeError, match="input 1 of BatchNormTrain, of shape \\(2,\\), is at version 1"):
        loss.backward()


def test_the_limit_direct_writes_into_data_are_not_tracked():
    w = Tensor(np.ones(2), requires_grad=True)
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    loss = (w * x).sum()
    w.data[...] = 5.0  # user code writing .data: no version bump, so no error
    loss.backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])  # the new values, not those of the forward pass
    assert w._version == 0


def slice_of(w):
    return w[0:2]


def reshape_of(w):
    return w.reshape(3, 1)


def transpose_of(w):
    return w.reshape(1, 3).T


def detached(w):
    return w.detach()


@pytest.mark.parametrize("view", [slice_of, reshape_of, transpose_of, detached])
def test_a_step_is_seen_through_a_view_of_the_weight(view):
    w = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    x = Tensor(np.full(view(w).shape, 2.0), requires_grad=True)
    v = view(w)
    assert np.shares_memory(v.data, w.data)
    loss = (v * x).sum()
    w.grad = np.ones(3)
    SGD([w], lr=0.5).step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation: input 0 of Mul"):
        loss.backward()  # gave dx = the stepped w silently, as the view shares w's memory


def test_a_copy_made_by_indexing_is_not_a_view_and_keeps_its_values():
    w = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    x = Tensor(np.full(2, 2.0), requires_grad=True)
    loss = (w[[0, 2]] * x).sum()  # an integer-array index copies
    init.zeros(w)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 3.0])
