"""Residual (skip) connections: y = body(x) + shortcut(x), the identity shortcut by default.

[Riedi 2023] (abstract): skip connections keep the singular values of the local linear map stable.
"""
from minidl.nn.module import Module


class Residual(Module):
    """y = body(x) + shortcut(x). ``shortcut`` defaults to the identity; its output must match body's."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        for name, module in (("body", body), ("shortcut", shortcut)):
            if module is not None and not isinstance(module, Module):
                raise TypeError(f"Residual: {name} must be a Module, got {type(module).__name__}")
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if y.shape != skip.shape:
            raise ValueError(f"Residual: the body gives shape {y.shape} but the shortcut gives "
                             f"{skip.shape}; they must match to be added")
        return y + skip
