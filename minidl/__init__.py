"""minidl: a from-scratch deep learning library in NumPy, with CuPy as a drop-in GPU backend.

The backend is chosen once, at import, by the environment variable MINIDL_BACKEND (numpy or cupy).
"""
from minidl import backend, init, nn, optim
from minidl.autograd import Function, Tensor, is_grad_enabled, no_grad
from minidl.random import manual_seed

__version__ = "0.1.0"
__all__ = ["backend", "init", "nn", "optim", "Tensor", "Function", "no_grad", "is_grad_enabled",
           "manual_seed"]
