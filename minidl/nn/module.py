"""Module: the container that registers parameters, buffers and submodules, and saves and loads them.

Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so ``parameters()``
finds every weight of a model without lists kept by hand. ``state_dict()`` names them with PyTorch's
path-like keys (``0.weight``, ``features.3.bias``) so weights move between the two libraries.
"""
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

import numpy

from minidl import backend, checks, weight_files
from minidl.autograd import Tensor, bump_version


class IncompatibleKeys(NamedTuple):
    """The result of :meth:`Module.load_state_dict`, as PyTorch's: keys the model has that the state
    lacked, and keys the state had that the model lacks."""
    missing_keys: list
    unexpected_keys: list


def _dtype_hint(dtypes):
    """The fix for values of the right shape and one other floating dtype: cast the model first."""
    if len(dtypes) != 1:
        return ""
    dtype = next(iter(dtypes))
    return f"; to load {dtype} weights, convert the model first with model.to(numpy.{dtype})"


def _check_buffer(array, name, where):
    if isinstance(array, Tensor) or not backend.is_backend_array(array):
        raise TypeError(f"{where}: the buffer {name!r} must be a backend array, got {type(array).__name__}"
                        + ("; pass tensor.data" if isinstance(array, Tensor) else ""))


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: it always requires a gradient."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before setting "
                                 f"attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            _check_buffer(value, name, f"{type(self).__name__}.{name}")
            object.__setattr__(self, name, value)  # a buffer's new value stays a buffer
            return
        if value is not None:  # as PyTorch: None unregisters, another kind of value is a mistake
            if name in self._parameters and not isinstance(value, Parameter):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to the "
                                f"parameter {name!r} (it would leave the model); assign a Parameter or "
                                f"None, or change its values with {name}.data[...] = array")
            if name in self._modules and not isinstance(value, Module):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to the "
                                f"submodule {name!r}; assign a Module or None")
        registry = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is not None:
            registry[name] = value  # a replaced entry keeps its place (a Sequential's order)
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Keep a non-learnable backend array (running statistics) in the state_dict under ``name``.

        Raises:
            TypeError: when ``name`` is not a str or ``array`` is not a backend array (a Tensor, a list).
            ValueError: when ``name`` is empty, holds a dot (state_dict keys use dots as separators) or
                is already a parameter, submodule or other attribute.
        """
        where = f"{type(self).__name__}.register_buffer"
        if not isinstance(name, str):
            raise TypeError(f"{where}: name must be a str, got {type(name).__name__}")
        if not name or "." in name or (hasattr(self, name) and name not in self._buffers):
            raise ValueError(f"{where}: name must be a new attribute name without dots, got {name!r}")
        _check_buffer(array, name, where)
        object.__setattr__(self, name, array)
        self._buffers[name] = True

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    # ----------------------------------------------------------------- traversal
    def named_modules(self, prefix=""):
        """(path, module) for this module and every descendant, depth first in registration order."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (module for _, module in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self):
        """(key, Parameter) pairs with PyTorch-style keys such as ``0.weight``, each Parameter once: a
        weight shared by two layers (tied weights, a layer used twice) comes under its first key only, as
        in PyTorch, so ``optimizer(model.parameters())`` steps it once. ``state_dict`` keeps every key."""
        seen = set()
        for path, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{path}.{name}" if path else name), parameter

    def parameters(self):
        return (parameter for _, parameter in self.named_parameters())

    # ----------------------------------------------------------------- mode and gradients
    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off, running statistics); returns self."""
        return self.train(False)

    def zero_grad(self):
        """Forget the gradient of every parameter (set it to None)."""
        for parameter in self.parameters():
            parameter.grad = None

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """OrderedDict key -> backend array of every parameter and buffer (the arrays themselves).

        Keys come in PyTorch's order: module by module, each module's parameters, then its buffers.
        """
        state = OrderedDict()
        for path, module in self.named_modules():
            prefix = f"{path}." if path else ""
            for name, parameter in module._parameters.items():
                state[prefix + name] = parameter.data
            for name in module._buffers:
                state[prefix + name] = getattr(module, name)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into this model's parameters and buffers, in place; returns the key lists.

        Every value is checked before the first write, so a failed load changes nothing: it must be a
        backend array (a Tensor is refused: pass ``tensor.data``) of the target's shape and dtype. The
        written parameters get their version bumped (:func:`minidl.autograd.bump_version`), so a
        backward pass through a graph built before the load can tell that they changed.

        Args:
            state_dict: a mapping key -> array, keys as :meth:`state_dict` names them.
            strict: when True (PyTorch's default), every key must be present and known; when False,
                missing and unexpected keys are allowed and reported in the result.

        Returns:
            IncompatibleKeys(missing_keys, unexpected_keys), lists of keys in order (PyTorch's result).

        Raises:
            TypeError: when ``state_dict`` is not a mapping, a value is not a backend array (a
                Tensor, a list, a host array under CuPy), or ``strict`` is not a bool.
            ValueError: listing the missing and unexpected keys (strict) and the values of another
                shape or dtype; a dtype mismatch names the fix, ``model.to(dtype)``.
        """
        where = f"{type(self).__name__}.load_state_dict"
        strict = checks.flag(strict, "strict", where)
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a mapping key -> array, got {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        mismatched, dtypes = [], set()
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                raise TypeError(f"{where}: [{key!r}] is a Tensor; pass its array, tensor.data")
            backend.check_on_backend(value, f"{where}[{key!r}]")
            if not backend.is_backend_array(value):
                raise TypeError(f"{where}: [{key!r}] must be an array, got {type(value).__name__}")
            if tuple(value.shape) != target.shape or value.dtype != target.dtype:
                mismatched.append(f"{key}: expected {target.shape} {target.dtype}, got "
                                  f"{tuple(value.shape)} {value.dtype}")
                if tuple(value.shape) == target.shape and value.dtype.kind == "f":
                    dtypes.add(str(value.dtype))
        if mismatched or (strict and (missing or unexpected)):
            raise ValueError(f"{where}: missing keys {missing}, unexpected keys {unexpected}, "
                             f"mismatched {mismatched}{_dtype_hint(dtypes)}")
        written = []
        for path, module in self.named_modules():
            prefix = f"{path}." if path else ""
            for name, parameter in module._parameters.items():
                if prefix + name in state_dict:
                    parameter.data[...] = state_dict[prefix + name]
                    written.append(parameter)
            for name in module._buffers:
                if prefix + name in state_dict:
                    getattr(module, name)[...] = state_dict[prefix + name]
        bump_version(*written)
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- dtype
    def to(self, dtype):
        """Cast every floating parameter, gradient and buffer to ``dtype``, in place; returns self.

        As PyTorch's ``Module.to(dtype)``: the Parameter objects stay the same (an optimizer holding
        them follows the new arrays), their ``.data`` and ``.grad`` become arrays of the new dtype, and
        floating buffers (running statistics) are cast too; integer buffers are left alone. The cast
        parameters get their version bumped, so a graph built before the cast can tell that they changed.

        There is no device move: the device is chosen once per process by MINIDL_BACKEND.

        Args:
            dtype: a floating dtype (numpy.float64, "float32", ...).

        Raises:
            TypeError: when ``dtype`` is not a floating dtype (a device name included), or is the
                ambiguous "float" (float64 for NumPy, float32 for PyTorch).
        """
        where = f"{type(self).__name__}.to"
        if isinstance(dtype, str) and dtype.split(":")[0] in ("cpu", "cuda"):
            raise TypeError(f"{where}: expected a floating dtype, got the device {dtype!r}; the device "
                            f"is chosen once per process by MINIDL_BACKEND (numpy or cupy)")
        if dtype is float or (isinstance(dtype, str) and dtype == "float"):
            raise TypeError(f"{where}: {dtype!r} is ambiguous: float64 for NumPy, float32 for PyTorch's "
                            f"torch.float; give numpy.float32 (or model.float()) or numpy.float64")
        try:
            dtype = numpy.dtype(dtype) if dtype is not None else None
        except TypeError:
            raise TypeError(f"{where}: expected a floating dtype such as numpy.float64, got "
                            f"{dtype!r}") from None
        if dtype is None or dtype.kind != "f":
            raise TypeError(f"{where}: expected a floating dtype such as numpy.float64, got {dtype}")
        for module in self.modules():
            for parameter in module._parameters.values():
                if parameter.data.dtype != dtype:
                    parameter.data = parameter.data.astype(dtype)
                    bump_version(parameter)
                if parameter.grad is not None and parameter.grad.dtype != dtype:
                    parameter.grad = parameter.grad.astype(dtype)
            for name in module._buffers:
                buffer = getattr(module, name)
                if buffer.dtype.kind == "f" and buffer.dtype != dtype:
                    object.__setattr__(module, name, buffer.astype(dtype))
        return self

    def double(self):
        """``to(numpy.float64)``: floating parameters, gradients and buffers become float64; returns self."""
        return self.to(numpy.float64)

    def float(self):
        """``to(numpy.float32)``: floating parameters, gradients and buffers become float32; returns self."""
        return self.to(numpy.float32)

    # ----------------------------------------------------------------- files
    def save(self, path):
        """Write the state_dict to ``path`` atomically: a crash leaves no half file.

        ``*.safetensors`` is written in the safetensors format, which PyTorch loads with
        ``model.load_state_dict(safetensors.torch.load_file(path))``; any other name is an .npz archive,
        except a PyTorch checkpoint's (.pt, .pth), which is refused. Returns the absolute path written.

        Raises:
            ValueError: for a .pt or .pth name.
        """
        arrays = {key: backend.asnumpy(value) for key, value in self.state_dict().items()}
        return weight_files.write(path, arrays, f"{type(self).__name__}.save")

    def load(self, path, strict=True):
        """Load weights from an .npz or .safetensors file (such as :meth:`save` or PyTorch's
        ``safetensors.torch.save_file`` writes); returns self.

        The arrays move to the backend device explicitly; nothing changes unless every value fits.

        Raises:
            FileNotFoundError: when there is no such file.
            ValueError: naming the file when it is truncated, damaged or not a weight file, and as
                :meth:`load_state_dict` when its keys, shapes or dtypes do not fit the model.
        """
        arrays = weight_files.read(path, f"{type(self).__name__}.load")
        self.load_state_dict({key: backend.to_device(value) for key, value in arrays.items()}, strict)
        return self

    # ----------------------------------------------------------------- display
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ")
                 for name, child in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
