"""Module: the container that registers parameters, buffers and submodules, and saves and loads them.

Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so ``parameters()``
finds every weight of a model without lists kept by hand. ``state_dict()`` names them with PyTorch's
path-like keys (``0.weight``, ``features.3.bias``) so weights move between the two libraries.
"""
import os
from collections import OrderedDict

import numpy

from minidl import backend
from minidl.autograd import Tensor
from minidl.files import write_atomically


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
            object.__setattr__(self, name, value)  # a buffer's new value stays a buffer
            return
        registry = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        if registry is not None:
            registry[name] = value  # a replaced entry keeps its place (a Sequential's order)
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Keep a non-learnable backend array (running statistics) in the state_dict under ``name``."""
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
        """(key, Parameter) pairs with PyTorch-style keys such as ``0.weight``."""
        for path, module in self.named_modules():
            for name, parameter in module._parameters.items():
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

    def load_state_dict(self, state):
        """Copy arrays into this model's parameters and buffers, in place.

        Every key must be present, known and of the right shape and dtype; otherwise a ValueError lists
        the missing, unexpected and mismatched keys and nothing is changed.
        """
        own = self.state_dict()
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        mismatched = []
        for key, target in own.items():
            if key in state:
                value = state[key]
                backend.check_on_backend(value, f"{type(self).__name__}.load_state_dict[{key!r}]")
                if tuple(value.shape) != target.shape or value.dtype != target.dtype:
                    mismatched.append(f"{key}: expected {target.shape} {target.dtype}, got "
                                      f"{tuple(value.shape)} {value.dtype}")
        if missing or unexpected or mismatched:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                             f"unexpected keys {unexpected}, mismatched {mismatched}")
        for key, target in own.items():
            target[...] = state[key]

    def save(self, path):
        """Write the state_dict to an .npz file (host arrays), atomically: a crash leaves no half file."""
        arrays = {key: backend.asnumpy(value) for key, value in self.state_dict().items()}
        write_atomically(path, lambda stream: numpy.savez(stream, **arrays))

    def load(self, path):
        """Load weights saved by :meth:`save` (moved to the backend device explicitly)."""
        with numpy.load(os.fspath(path)) as archive:
            self.load_state_dict({key: backend.to_device(archive[key]) for key in archive.files})
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
