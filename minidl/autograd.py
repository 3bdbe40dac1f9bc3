"""Reverse-mode automatic differentiation: Tensor, Function, the graph walk, no_grad.

A :class:`Tensor` wraps a backend array. Every differentiable operation is a :class:`Function` whose
``forward`` takes and returns raw arrays and whose ``backward`` maps the gradients of its outputs to the
gradients of its inputs (vector-Jacobian products, also raw arrays). Calling a Function records it as the
``creator`` of its outputs when gradients are enabled and an input requires one.

``Tensor.backward`` walks the recorded graph with a loop (no recursion, so a 10 000-op chain is fine),
visiting functions from the newest generation to the oldest, so each function runs once, after every
gradient flowing into its outputs has been summed. Functions of one generation run in reverse order of
creation, so gradients are summed in the same order on every run: the same program gives the same bits.
Gradients are kept only on leaf tensors that require them (parameters), in ``.grad``, as backend arrays;
they accumulate across calls until zeroed.
"""
import contextlib
import heapq
import itertools
import threading
import weakref

import numpy

from minidl import backend
from minidl.backend import xp

DEFAULT_DTYPE = numpy.float32
_grad_mode = threading.local()  # per thread, as PyTorch's: one thread's no_grad leaves the others recording
_creation_order = itertools.count()  # numbers recorded Functions, to order the backward walk


@contextlib.contextmanager
def no_grad():
    """Within this block no graph is recorded: outputs never require gradients. It applies to the
    calling thread only (as PyTorch's): another thread training at the same time keeps its graph."""
    previous, _grad_mode.enabled = is_grad_enabled(), False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def is_grad_enabled():
    """Whether the calling thread records graphs (False inside :func:`no_grad`)."""
    return getattr(_grad_mode, "enabled", True)


def _to_array(data, where="Tensor"):
    """Backend array for ``data``: Python scalars and lists become float32 (or int64), arrays keep dtype;
    only real numbers and bools are taken (not complex, str or object data)."""
    if isinstance(data, Tensor):
        raise TypeError(f"{where}: got a Tensor where an array was expected; use tensor.data")
    if not backend.is_backend_array(data):
        backend.check_on_backend(data, where)
        plain = not isinstance(data, (numpy.ndarray, numpy.generic))
        data = xp.asarray(data)
        if plain and data.dtype.kind == "f":
            data = data.astype(DEFAULT_DTYPE)
    if data.dtype.kind not in "fiub":
        raise TypeError(f"{where}: expected real numbers, got data of dtype {data.dtype}")
    return data


class Tensor:
    """An n-dimensional backend array with an optional gradient.

    Attributes:
        data: the backend array (numpy.ndarray, or cupy.ndarray under MINIDL_BACKEND=cupy).
        grad: the accumulated gradient, an array of data's shape and dtype, or None.
        requires_grad: whether operations on this tensor are recorded for backward.
        creator: the Function that made this tensor, None for a leaf.
        _version: how many times the library updated ``data`` in place (:func:`bump_version`); writes
            by user code into ``data`` are not counted.
        _base: for a view (a slice, reshape, transpose or detach that shares this tensor's memory), the
            tensor it views, whose version it shares: updating a parameter in place is seen through
            every view of it. None otherwise.
    """

    __array_priority__ = 1000  # make ``ndarray * Tensor`` defer to Tensor.__rmul__

    def __init__(self, data, requires_grad=False):
        self.data = _to_array(data)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.creator = None
        self.generation = 0
        self._version = 0
        self._base = None

    @classmethod
    def _wrap(cls, array):
        """A tensor around a backend array that is known to be valid (no checks: the hot path)."""
        tensor = Tensor.__new__(Tensor)
        tensor.data, tensor.requires_grad, tensor.grad = array, False, None
        tensor.creator, tensor.generation, tensor._version, tensor._base = None, 0, 0, None
        return tensor

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.asnumpy(self.data)!r}{grad})"

    def numpy(self):
        """The data as a host NumPy array (copied from the GPU under CuPy)."""
        return backend.asnumpy(self.data)

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"Tensor.item: expected a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self):
        """A new leaf tensor sharing this data (and its version), outside the graph."""
        tensor = Tensor._wrap(self.data)
        tensor._base = _viewed(self)
        return tensor

    # ----------------------------------------------------------------- backward
    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires a gradient.

        Args:
            grad: the gradient of the final objective with respect to this tensor (same shape and
                dtype; a list or Python number takes this tensor's dtype); may be omitted for a
                single-element tensor, where it is 1.

        Raises:
            RuntimeError: when this tensor does not require a gradient, or an input saved for the
                backward pass was updated in place since (directly or through a view).
            ValueError: when ``grad`` is missing for a tensor of several elements, or its shape or
                dtype differs from this tensor's.
        """
        if not self.requires_grad:
            raise RuntimeError("Tensor.backward: this tensor does not require a gradient "
                               "(no input required one, or it was made under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"Tensor.backward: a gradient must be given for a non-scalar tensor "
                                 f"of shape {self.shape}")
            grad = xp.ones_like(self.data)
        else:
            given = grad.data if isinstance(grad, Tensor) else _to_array(grad, "Tensor.backward")
            grad = given if given is grad or hasattr(grad, "dtype") else given.astype(self.dtype)
            if grad.shape != self.shape or grad.dtype != self.dtype:
                raise ValueError(f"Tensor.backward: expected a gradient of shape {self.shape} and dtype "
                                 f"{self.dtype}, got {grad.shape} {grad.dtype}")
        if self.creator is None:
            self._accumulate(grad)
            return

        pending = {id(self): grad}
        queue, queued = [], set()

        def push(function):
            if id(function) not in queued:
                queued.add(id(function))
                heapq.heappush(queue, (-function.generation, -function.sequence, function))

        push(self.creator)
        while queue:
            function = heapq.heappop(queue)[2]
            grads_out = []
            for ref in function.outputs:
                output = ref()
                grads_out.append(None if output is None else pending.pop(id(output), None))
            if all(g is None for g in grads_out):
                continue
            grads_out = [xp.zeros(shape, dtype) if g is None else g  # an unused or discarded output
                         for (shape, dtype), g in zip(function.output_specs, grads_out)]
            function.check_saved_versions()
            grads_in = function.backward(*grads_out)
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
            for tensor, g in zip(function.inputs, grads_in):
                if g is None or not tensor.requires_grad:
                    continue
                if tensor.creator is None:
                    tensor._accumulate(g)
                else:
                    key = id(tensor)
                    pending[key] = g if key not in pending else pending[key] + g
                    push(tensor.creator)

    def _accumulate(self, grad):
        if self.grad is not None:
            self.grad = self.grad + grad
        else:  # an array of its own: grad may be a view, or shared with another leaf or the caller
            self.grad = grad.copy()

    # ----------------------------------------------------------------- operators
    def __add__(self, other):
        return Add()(self, other)

    def __radd__(self, other):
        return Add()(other, self)

    def __sub__(self, other):
        return Sub()(self, other)

    def __rsub__(self, other):
        return Sub()(other, self)

    def __mul__(self, other):
        return Mul()(self, other)

    def __rmul__(self, other):
        return Mul()(other, self)

    def __truediv__(self, other):
        return Div()(self, other)

    def __rtruediv__(self, other):
        return Div()(other, self)

    def __neg__(self):
        return Neg()(self)

    def __pow__(self, other):
        return Pow()(self, other)

    def __rpow__(self, other):
        return Pow()(other, self)

    def __matmul__(self, other):
        return MatMul()(self, other)

    def __rmatmul__(self, other):
        return MatMul()(other, self)

    def __getitem__(self, index):
        return GetItem(index)(self)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return Reshape(tuple(shape))(self)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return Transpose(tuple(axes) if axes else None)(self)

    @property
    def T(self):
        return Transpose(None)(self)

    def sum(self, axis=None, keepdims=False):
        return Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims=False):
        total = self.sum(axis, keepdims)  # NumPy checks the axes here (AxisError, a ValueError)
        count = self.data.size if axis is None else int(numpy.prod(
            [self.shape[a] for a in _positive_axes(axis, self.ndim)]))
        return total / count

    def max(self, axis=None, keepdims=False):
        return Max(axis, keepdims)(self)

    def exp(self):
        return Exp()(self)

    def log(self):
        return Log()(self)

    def astype(self, dtype):
        """A copy in ``dtype``: differentiable to a floating dtype (the only way to change a tensor's
        precision); to an integer or bool dtype a copy outside the graph, as PyTorch's ``to``.

        Raises:
            TypeError: when ``dtype`` is not a dtype.
        """
        try:
            dtype = numpy.dtype(dtype)
        except TypeError:
            raise TypeError(f"Tensor.astype: expected a dtype such as numpy.float64, got {dtype!r}") from None
        if dtype.kind != "f":
            return Tensor._wrap(self.data.astype(dtype))
        return Cast(dtype)(self)


class Function:
    """One differentiable operation. Subclasses define ``forward(*arrays)`` and ``backward(*grads)``.

    ``forward`` receives the input arrays and returns an array or a tuple of arrays; ``backward`` receives
    one gradient per output and returns one gradient (or None) per input, each of its input's shape.
    Anything ``backward`` needs from the forward pass is saved on ``self``.

    ``saved_inputs`` lists the positions of the inputs whose values ``backward`` reads (saved arrays that
    share their memory). Their versions are recorded in the forward pass and checked before backward, so
    an input that the library updated in place in between (:func:`bump_version`) raises a RuntimeError
    instead of giving a wrong gradient. Functions that need only shapes, or arrays of their own, list none.
    """

    saved_inputs = ()
    returns_view = False  # True for Functions whose output may share its input's memory

    def __call__(self, *inputs):
        tensors = _as_inputs(inputs, type(self).__name__.lstrip("_"))  # a private _Linear is named Linear
        outputs = self.forward(*[t.data for t in tensors])
        single = not isinstance(outputs, tuple)
        results = [Tensor._wrap(o) for o in ((outputs,) if single else outputs)]
        if self.returns_view and xp.may_share_memory(outputs, tensors[0].data):
            results[0]._base = _viewed(tensors[0])
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            self.inputs = tensors
            self.saved_versions = [_viewed(tensors[i])._version for i in self.saved_inputs]
            self.sequence = next(_creation_order)
            self.generation = max(t.generation for t in tensors)
            self.outputs = [weakref.ref(r) for r in results]
            self.output_specs = [(r.shape, r.dtype) for r in results]
            for r in results:
                r.requires_grad, r.creator, r.generation = True, self, self.generation + 1
        return results[0] if single else tuple(results)

    def check_saved_versions(self):
        """Raise a RuntimeError naming this Function when a saved input was modified since the forward."""
        for i, expected in zip(self.saved_inputs, self.saved_versions):
            tensor = self.inputs[i]
            if _viewed(tensor)._version != expected:
                raise RuntimeError(
                    f"Tensor.backward: one of the variables needed for gradient computation has been "
                    f"modified by an in-place operation: input {i} of {type(self).__name__.lstrip('_')}, "
                    f"of shape {tensor.shape}, is at version {_viewed(tensor)._version}; expected version "
                    f"{expected}. Run the forward pass again after updating it (optimizer.step(), "
                    f"load_state_dict, an initializer)")

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError


def _as_inputs(inputs, where):
    """Tensors for a Function's inputs: Python scalars take the dtype of the floating tensor beside them."""
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    floats = {t.dtype for t in tensors if t.dtype.kind == "f"}
    if len(floats) > 1:
        raise TypeError(f"{where}: cannot mix dtypes {sorted(str(d) for d in floats)}; convert one "
                        f"explicitly with tensor.astype(...)")
    like = floats.pop() if floats else None
    result = []
    for x in inputs:
        if isinstance(x, Tensor):
            result.append(x)
        elif isinstance(x, (int, float, numpy.integer, numpy.floating)) and not isinstance(x, bool):
            result.append(Tensor._wrap(xp.asarray(x, dtype=like) if like is not None else _to_array(x)))
        else:
            array = _to_array(x, where)
            if like is not None and array.dtype.kind == "f" and array.dtype != like:
                raise TypeError(f"{where}: cannot mix a {array.dtype} array with {like} tensors; "
                                f"convert it explicitly")
            result.append(Tensor._wrap(array))
    return result


def _viewed(tensor):
    """The tensor whose memory (and version) ``tensor`` shares: itself, or the tensor it is a view of."""
    return tensor if tensor._base is None else tensor._base


def bump_version(*tensors):
    """Record that the library changed these tensors' data in place (optimizer steps, loads, inits).

    Each tensor's ``_version`` counts such changes, so a backward pass can tell that an input it saved
    was modified after the forward pass (:meth:`Function.check_saved_versions`). The limit: direct writes
    into ``tensor.data`` by user code (``t.data[...] = v``, ``t.data -= v``) are not counted, so a
    gradient taken after one silently uses the new values.
    """
    for tensor in tensors:
        tensor._version += 1


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


# --------------------------------------------------------------------- elementwise arithmetic
class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return unbroadcast(g * self.b, self.a.shape), unbroadcast(g * self.a, self.b.shape)


class Div(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = g / self.b
        return unbroadcast(ga, self.a.shape), unbroadcast(-ga * self.a / self.b, self.b.shape)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """a ** b with PyTorch's gradients at the boundary: d/da is 0 where b = 0 (even at a = 0, where
    b a^(b-1) is 0 * inf), and d/db is 0 where a = 0 and b >= 0 (where a^b log a is 0 * -inf or 1 * -inf).
    The backward pass computes both branches and selects, so it silences NumPy's warnings."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, g):
        a, b, zero = self.a, self.b, g.dtype.type(0)
        with numpy.errstate(divide="ignore", invalid="ignore"):
            ga = xp.where(b == 0, zero, g * (b * a ** (b - 1)))
            gb = None
            if self.inputs[1].requires_grad:
                gb = unbroadcast(g * xp.where((a == 0) & (b >= 0), zero, self.y * xp.log(a)), b.shape)
        return unbroadcast(ga, a.shape), gb


class Exp(Function):
    def forward(self, a):
        self.y = xp.exp(a)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    saved_inputs = (0,)

    def forward(self, a):
        self.a = a
        return xp.log(a)

    def backward(self, g):
        return g / self.a


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = numpy.dtype(dtype)

    def forward(self, a):
        self.source = a.dtype
        return a.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.source)


# --------------------------------------------------------------------- linear algebra and shape
class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted, leading (batch) axes broadcast."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: expected operands with at least one axis, got shapes "
                             f"{a.shape} and {b.shape}")
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:  # restore the axes in reverse order: 1-D @ 1-D gives a 0-d g
            g2 = xp.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        ga = g2 @ xp.swapaxes(b2, -1, -2)
        gb = xp.swapaxes(a2, -1, -2) @ g2
        ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


class Reshape(Function):
    returns_view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, a):
        self.source = a.shape
        return a.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.source)


class Transpose(Function):
    returns_view = True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, a):
        return a.transpose(self.axes)

    def backward(self, g):
        if self.axes is None:
            return g.transpose()
        return g.transpose(numpy.argsort([a % g.ndim for a in self.axes]))


class GetItem(Function):
    """Indexing by ints, slices and integer arrays; repeated indices accumulate their gradients."""

    returns_view = True

    def __init__(self, index):
        self.index = index.data if isinstance(index, Tensor) else index

    def forward(self, a):
        self.source = a.shape, a.dtype
        return a[self.index]

    def backward(self, g):
        grad = xp.zeros(*self.source)
        backend.scatter_add(grad, self.index, g)
        return grad


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.source = a.shape
        return a.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = xp.expand_dims(g, _positive_axes(self.axis, len(self.source)))
        return xp.broadcast_to(g, self.source)


class Max(Function):
    """Maximum over axes; ties share the gradient equally (as torch.amax)."""

    saved_inputs = (0,)

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.a = a
        self.y = a.max(axis=self.axis, keepdims=True)
        if self.keepdims:
            return self.y
        reduced = range(a.ndim) if self.axis is None else _positive_axes(self.axis, a.ndim)
        return self.y.reshape([n for i, n in enumerate(a.shape) if i not in reduced])

    def backward(self, g):
        g = g.reshape(self.y.shape)
        mask = self.a == self.y
        return mask * (g / mask.sum(axis=self.axis, keepdims=True, dtype=g.dtype))


def _positive_axes(axis, ndim):
    return tuple(sorted(a % ndim for a in numpy.atleast_1d(axis)))
