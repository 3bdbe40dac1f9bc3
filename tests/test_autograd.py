import re
import sys

import numpy as np
import pytest

from gradcheck import gradcheck
from minidl import Function, Tensor, is_grad_enabled, no_grad

rng = np.random.default_rng(0)


def leaf(*shape, low=-1.0, high=1.0):
    return Tensor(rng.uniform(low, high, shape), requires_grad=True)


def distinct(*shape):
    """float64 values all different by far more than the finite-difference step (no ties at a max)."""
    values = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 0.3
    return Tensor(values + rng.uniform(-0.01, 0.01, shape), requires_grad=True)


# --------------------------------------------------------------------- elementwise arithmetic
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)),
                    ((2, 3, 4), (3, 1)), ((1, 4), (2, 3, 1)), ((3, 4), ())]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_ops_broadcast_in_both_directions(op, shapes):
    a, b = leaf(*shapes[0]), leaf(*shapes[1], low=0.5, high=2.0)
    fn = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b}[op]
    out = fn()
    expected = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](a.data, b.data)
    np.testing.assert_array_equal(out.data, expected)
    gradcheck(fn, [a, b])


def test_python_scalars_on_either_side():
    a = leaf(2, 3, low=0.5, high=2.0)
    for fn, expected in [(lambda: 2.5 + a, 2.5 + a.data), (lambda: 2.5 - a, 2.5 - a.data),
                         (lambda: 2.5 * a, 2.5 * a.data), (lambda: 2.5 / a, 2.5 / a.data),
                         (lambda: a - 2, a.data - 2), (lambda: 2 ** a, 2 ** a.data)]:
        np.testing.assert_allclose(fn().data, expected, rtol=1e-15)
        gradcheck(fn, [a])


def test_numpy_array_operand_on_the_left_defers_to_tensor():
    a, b = leaf(3, 4), rng.standard_normal((3, 4))
    out = b * a
    assert isinstance(out, Tensor)
    gradcheck(lambda: b * a, [a])
    gradcheck(lambda: b - a, [a])


def test_neg_exp_log():
    a = leaf(3, 4, low=0.2, high=3.0)
    np.testing.assert_array_equal((-a).data, -a.data)
    np.testing.assert_allclose(a.exp().data, np.exp(a.data))
    np.testing.assert_allclose(a.log().data, np.log(a.data))
    gradcheck(lambda: -a, [a])
    gradcheck(lambda: a.exp(), [a])
    gradcheck(lambda: a.log(), [a])


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5, 0])
def test_pow_with_scalar_exponent(exponent):
    a = leaf(3, 4, low=0.3, high=2.0)
    np.testing.assert_allclose((a ** exponent).data, a.data ** exponent)
    gradcheck(lambda: a ** exponent, [a])


def test_pow_with_integer_exponent_of_negative_base():
    a = Tensor(np.array([-2.0, -0.5, 1.5]), requires_grad=True)
    (a ** 3).sum().backward()
    np.testing.assert_allclose(a.grad, 3 * a.data ** 2)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 1), (3, 4))], ids=str)
def test_pow_with_tensor_exponent(shapes):
    a, b = leaf(*shapes[0], low=0.3, high=2.0), leaf(*shapes[1])
    gradcheck(lambda: a ** b, [a, b])


# --------------------------------------------------------------------- matmul
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((4,), (2, 4, 5)),
                 ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_forward_and_gradients(shapes):
    a, b = leaf(*shapes[0]), leaf(*shapes[1])
    out = a @ b
    np.testing.assert_allclose(out.data, a.data @ b.data, rtol=1e-14)
    assert out.shape == np.matmul(a.data, b.data).shape
    gradcheck(lambda: a @ b, [a, b])


def test_matmul_with_array_on_the_left_and_zero_dim_error():
    a, m = leaf(4, 2), rng.standard_normal((3, 4))
    gradcheck(lambda: m @ a, [a])
    with pytest.raises(ValueError, match="matmul"):
        a @ Tensor(np.float64(2.0))


# --------------------------------------------------------------------- indexing and shape
INDICES = [(slice(1, 3),), (slice(None, None, 2), slice(1, None)), (1,), (-1, 2),
           (np.array([0, 2, 0, 0]),), (np.array([0, 1, 1]), np.array([2, 0, 2])),
           (slice(None), np.array([1, 1, 3])), (Ellipsis, 0), (None, slice(0, 2)),
           (np.array([[0, 2], [2, 2]]),)]


@pytest.mark.parametrize("index", INDICES, ids=str)
def test_getitem_with_slices_ints_and_repeated_integer_arrays(index):
    index = index[0] if len(index) == 1 else index
    a = leaf(3, 4)
    np.testing.assert_array_equal(a[index].data, a.data[index])
    gradcheck(lambda: a[index], [a])


def test_getitem_repeated_indices_accumulate():
    a = Tensor(np.zeros(4), requires_grad=True)
    a[np.array([1, 1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(a.grad, [0, 3, 0, 1])


def test_getitem_accepts_an_integer_tensor_index():
    a = leaf(5)
    index = Tensor(np.array([4, 0, 4]))
    np.testing.assert_array_equal(a[index].data, a.data[[4, 0, 4]])
    gradcheck(lambda: a[index], [a])


@pytest.mark.parametrize("shape", [(4, 3), (3, -1), (12,), (2, 1, 6)], ids=str)
def test_reshape(shape):
    a = leaf(2, 3, 2)
    assert a.reshape(shape).shape == a.data.reshape(shape).shape
    assert a.reshape(*shape).shape == a.data.reshape(shape).shape
    gradcheck(lambda: a.reshape(shape), [a])


@pytest.mark.parametrize("axes", [(), (0, 2, 1), (2, 0, 1), (1, 2, 0), (-1, 0, 1), (0, -1, -2)], ids=str)
def test_transpose(axes):
    a = leaf(2, 3, 4)
    out = a.transpose(*axes)
    np.testing.assert_array_equal(out.data, a.data.transpose(axes or None))
    gradcheck(lambda: a.transpose(*axes), [a])
    gradcheck(lambda: a.transpose(axes), [a])


def test_T():
    a = leaf(3, 4)
    np.testing.assert_array_equal(a.T.data, a.data.T)
    gradcheck(lambda: a.T, [a])


# --------------------------------------------------------------------- reductions
AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
def test_reductions_over_axes(reduction, axis, keepdims):
    a = distinct(2, 3, 4)
    out = getattr(a, reduction)(axis=axis, keepdims=keepdims)
    expected = getattr(a.data, reduction)(axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)
    gradcheck(lambda: getattr(a, reduction)(axis=axis, keepdims=keepdims), [a])


def test_max_shares_the_gradient_between_ties():
    a = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    a.max(axis=1).sum().backward()
    np.testing.assert_allclose(a.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


# --------------------------------------------------------------------- dtypes
def test_astype_is_differentiable_and_changes_precision():
    a = leaf(3, 4)
    low = a.astype(np.float32)
    assert low.dtype == np.float32
    np.testing.assert_array_equal(low.data, a.data.astype(np.float32))
    w = rng.standard_normal((3, 4)).astype(np.float32)
    (low * Tensor(w)).sum().backward()
    assert a.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, w.astype(np.float64))
    gradcheck(lambda: (a * 2).astype(np.float64), [a])


def test_python_numbers_become_float32_and_arrays_keep_their_dtype():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert Tensor(np.float64(1.0)).dtype == np.float64


def test_python_scalars_take_the_tensor_dtype():
    for dtype in (np.float32, np.float64):
        a = Tensor(np.ones(3, dtype), requires_grad=True)
        for out in (a * 0.1, 0.1 * a, a + 1, 1 - a, a / 3.0, 3.0 / a, a ** 2, 2 ** a, -a,
                    a.mean(), a.exp(), a.log(), a @ a, a[np.array([0, 0])]):
            assert out.dtype == dtype


def test_float32_stays_float32_through_every_backward():
    a = Tensor(rng.uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.uniform(0.5, 1.5, (4, 3)).astype(np.float32), requires_grad=True)
    c = Tensor(rng.uniform(0.5, 1.5, (4,)).astype(np.float32), requires_grad=True)
    out = ((a * c + c) / c - c) ** 2 + 2.0 ** c
    out = (out @ b).max(axis=1) + out.mean(axis=(0, 2)).sum() + out.exp().log().sum(axis=(0, 2))
    out = out.reshape(-1).T[np.array([0, 0, 1])] + out.transpose(1, 0)[0, 1] + out.max()
    out.sum().backward()
    for t in (a, b, c):
        assert t.grad.dtype == np.float32, t.shape


def test_mixing_float32_and_float64_raises_type_error():
    single, double = Tensor(np.ones(2, np.float32)), Tensor(np.ones(2))
    for op in (lambda: single + double, lambda: double * single, lambda: single @ double,
               lambda: single - np.ones(2), lambda: np.ones(2) / single):
        with pytest.raises(TypeError, match="float32"):
            op()


def test_bad_tensor_construction():
    with pytest.raises(TypeError, match="floating"):
        Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(TypeError, match="Tensor"):
        Tensor(Tensor([1.0]))
    with pytest.raises(TypeError, match="numbers"):
        Tensor(["a", "b"])


# --------------------------------------------------------------------- Tensor basics
def test_tensor_properties_and_conversions():
    data = np.arange(6.0).reshape(2, 3)
    a = Tensor(data, requires_grad=True)
    assert (a.shape, a.dtype, a.ndim, a.size, len(a)) == ((2, 3), np.float64, 2, 6, 2)
    np.testing.assert_array_equal(a.numpy(), data)
    assert a.sum().item() == 15.0 and isinstance(a.sum().item(), float)
    with pytest.raises(ValueError, match="one element"):
        a.item()
    d = a.detach()
    assert d.data is a.data and not d.requires_grad and d.creator is None
    assert "requires_grad=True" in repr(a)


def test_backward_argument_checks():
    a = leaf(2, 3)
    with pytest.raises(ValueError, match="non-scalar"):
        (a * 2).backward()
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        (a * 2).backward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="does not require"):
        Tensor(np.ones(2)).sum().backward()


def test_backward_on_a_leaf_and_with_a_tensor_gradient():
    a = leaf(2, 3)
    g = rng.standard_normal((2, 3))
    a.backward(Tensor(g))
    np.testing.assert_array_equal(a.grad, g)
    b = leaf(2, 3)
    (b * 3).backward(g)
    np.testing.assert_allclose(b.grad, 3 * g)


@pytest.mark.parametrize("through", ["leaf", "graph"])
def test_a_gradient_of_another_dtype_is_refused_and_a_list_takes_the_tensor_dtype(through):
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = a if through == "leaf" else a * 2
    with pytest.raises(ValueError, match=re.escape("Tensor.backward: expected a gradient of shape (3,) and "
                                                   "dtype float32, got (3,) float64")):
        y.backward(np.ones(3))  # gave the float32 leaf a float64 .grad, refused only at optimizer.step
    assert a.grad is None
    b = Tensor(np.ones(3), requires_grad=True)
    (b if through == "leaf" else b * 2).backward([1.0, 2.0, 3.0])  # was cast to float32 first
    assert b.grad.dtype == np.float64


# --------------------------------------------------------------------- the graph walk
def test_a_10000_op_chain_backward_runs_without_recursion():
    a = Tensor(np.array(1.0), requires_grad=True)
    x = a
    for _ in range(10000):
        x = x * 1.0001 + 0.0
    assert 10000 * 2 > sys.getrecursionlimit()
    x.backward()
    np.testing.assert_allclose(a.grad, 1.0001 ** 10000, rtol=1e-9)


def test_diamond_graph_accumulates_both_paths():
    a = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    b = a * a
    c = a * 3.0
    (b + c).sum().backward()
    np.testing.assert_allclose(a.grad, 2 * a.data + 3)


def test_paths_of_different_lengths_meet_before_the_shared_node_runs():
    a = leaf(3, low=0.1, high=1.0)

    def f():
        b = a * 2.0
        return b.exp().exp() * b + b.log() + b
    gradcheck(f, [a])
    b = Tensor(np.array([0.5]), requires_grad=True)
    x = b * 2.0
    (x.exp().exp() + x).sum().backward()
    np.testing.assert_allclose(b.grad, 2 * np.exp(np.exp(1.0)) * np.exp(1.0) + 2)


def test_same_tensor_used_twice_in_one_op():
    a = leaf(3)
    gradcheck(lambda: a * a, [a])
    gradcheck(lambda: a @ a, [a])


def test_grads_accumulate_across_backward_calls_until_zeroed():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (a * a).sum()
    loss.backward()
    np.testing.assert_array_equal(a.grad, [2, 4])
    loss.backward()
    np.testing.assert_array_equal(a.grad, [4, 8])
    (a * 10).sum().backward()
    np.testing.assert_array_equal(a.grad, [14, 18])
    a.grad = None
    loss.backward()
    np.testing.assert_array_equal(a.grad, [2, 4])


def test_leaves_get_gradients_of_their_own():
    a, b = leaf(3), leaf(3)
    g = np.ones(3)
    (a + b).backward(g)
    a.grad *= 5
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(g, np.ones(3))
    c = leaf(2, 3)
    c.sum().backward()
    c.grad += 1  # the broadcast gradient of a sum must be writable
    np.testing.assert_array_equal(c.grad, np.full((2, 3), 2.0))


def test_no_grad_records_nothing():
    a = leaf(3)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        out = (a * 2).exp().sum()
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not out.requires_grad and out.creator is None
    with pytest.raises(RuntimeError):
        out.backward()
    assert a.grad is None
    recorded = (a * 2).sum()
    assert recorded.requires_grad and recorded.creator is not None


def test_no_grad_restores_the_state_after_an_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError
    assert is_grad_enabled()


def test_constants_do_not_require_gradients():
    a, b = Tensor(np.ones(2)), leaf(2)
    assert not (a * 2).requires_grad and (a * 2).creator is None
    (a * b).sum().backward()
    assert a.grad is None and b.grad is not None


# --------------------------------------------------------------------- custom Functions
class Cube(Function):
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, g):
        return 3 * self.x ** 2 * g


class Halves(Function):
    """Two outputs: the first and second half of a vector."""

    def forward(self, x):
        self.n = len(x)
        return x[:self.n // 2].copy(), x[self.n // 2:].copy()

    def backward(self, g_first, g_second):
        return np.concatenate([g_first, g_second])


def test_custom_function_gets_arrays_and_its_inputs():
    a = leaf(4)
    function = Cube()
    out = function(a)
    assert function.inputs[0] is a and out.creator is function
    gradcheck(lambda: Cube()(a), [a])


def test_unused_output_of_a_multi_output_function_gets_a_zero_gradient():
    a = Tensor(np.arange(4.0), requires_grad=True)
    first, second = Halves()(a)
    (first * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [3, 3, 0, 0])

    def swapped_product():
        first, second = Halves()(a)
        return second * first
    gradcheck(swapped_product, [a])


def test_base_function_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        Function()(Tensor(np.ones(2)))


def test_a_discarded_output_of_a_two_output_function_gets_a_zero_gradient():
    class SplitHalves(Function):
        def forward(self, a):
            half = len(a) // 2
            return a[:half] * 2.0, a[half:] * 3.0

        def backward(self, g_first, g_second):
            return np.concatenate([g_first * 2.0, g_second * 3.0])

    x = Tensor(np.arange(4.0), requires_grad=True)
    first, _ = SplitHalves()(x)
    del _
    first.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 0.0, 0.0])


def test_backward_sums_in_creation_order_so_the_gradient_bits_repeat():
    # float32 addition is not associative: the order in which the four products' gradients reach x
    # decides the bits, and ordering by memory address gave a dozen patterns in 300 runs
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal(1000).astype(np.float32)
    factors = [(rng.standard_normal(1000) * scale).astype(np.float32) for scale in (1e4, 1.0, 1e-3, 3.0)]
    patterns = set()
    for _ in range(300):
        x = Tensor(x_data, requires_grad=True)
        products = [x * f for f in factors]
        (products[0] + products[1] + products[2] + products[3]).sum().backward()
        patterns.add(x.grad.tobytes())
    assert len(patterns) == 1


def test_a_cast_to_integers_leaves_the_graph_as_in_pytorch():
    a = Tensor(np.array([1.5, -2.5]), requires_grad=True)
    counts = a.astype(np.int64)  # required a gradient and passed one back through the rounding
    assert counts.dtype == np.int64 and not counts.requires_grad and counts.creator is None
    np.testing.assert_array_equal(counts.data, [1, -2])
    with pytest.raises(TypeError, match="^Tensor.astype: expected a dtype such as numpy.float64, got 'cuda'"):
        a.astype("cuda")


@pytest.mark.parametrize("axis", [2, -3, (0, 2)])
def test_mean_over_an_axis_the_tensor_lacks_is_numpys_axis_error(axis):
    with pytest.raises(np.exceptions.AxisError, match="out of bounds for array of dimension 2"):
        Tensor(np.ones((2, 3))).mean(axis=axis)  # raised IndexError: tuple index out of range


def test_mean_over_negative_and_several_axes():
    a = Tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(a.mean(axis=(-1, 0)).data, np.arange(24.0).reshape(2, 3, 4).mean(axis=(-1, 0)))


def test_a_dtype_mix_names_the_operation_without_its_private_underscore():
    from minidl import nn
    with pytest.raises(TypeError, match=r"^Linear: cannot mix dtypes \['float32', 'float64'\]"):
        nn.Linear(3, 2)(Tensor(np.ones((4, 3))))  # said "_Linear: ..."


@pytest.mark.parametrize("data, dtype", [
    (np.array([{}], dtype=object), "object"),  # were taken, and failed deep inside a later operation
    (np.array([1j]), "complex128"),
    (np.array(["a"]), "<U1"),
    (["a"], "<U1"),
])
def test_a_tensor_holds_real_numbers_only(data, dtype):
    with pytest.raises(TypeError, match=re.escape(f"Tensor: expected real numbers, got data of dtype {dtype}")):
        Tensor(data)
    with pytest.raises(TypeError, match=re.escape(f"Mul: expected real numbers, got data of dtype {dtype}")):
        Tensor(np.ones(1)) * data


def test_no_grad_applies_to_the_calling_thread_only():
    import threading
    a, seen = leaf(3), []
    entered, leave = threading.Event(), threading.Event()

    def evaluate():
        with no_grad():
            entered.set()
            leave.wait(10)
            seen.append(((a * 2).sum().requires_grad, is_grad_enabled()))
    worker = threading.Thread(target=evaluate)
    worker.start()
    entered.wait(10)
    assert is_grad_enabled() and (a * 2).sum().requires_grad  # this thread still records
    leave.set()
    worker.join(10)
    assert seen == [(False, False)]
    other = []
    thread = threading.Thread(target=lambda: other.append(is_grad_enabled()))
    with no_grad():
        thread.start()
        thread.join(10)
    assert other == [True]  # a thread started inside no_grad records: grad mode is not inherited
