"""Central-difference gradient checks in float64, shared by the test modules.

``gradcheck(f, tensors)`` compares the gradients that backward accumulates into each tensor with central
differences of the scalar L = sum(f() * R), R a fixed random array: per element on small tensors, and
along random directions (two forward passes each) on large ones, as Chainer's check_backward does.
"""
import numpy as np

from minidl import backend, no_grad

EPS = 1e-6
ELEMENTWISE_LIMIT = 200  # tensors with more elements are checked along random directions
DIRECTIONS = 3


def _loss(f, weights):
    with no_grad():
        return float((backend.asnumpy(f().data) * weights).sum())


def _perturbed(f, tensor, weights, delta):
    """(L(t + delta) - L(t - delta)) / 2, restoring t's data exactly."""
    saved = tensor.data.copy()
    tensor.data += delta
    plus = _loss(f, weights)
    tensor.data[...] = saved - delta
    minus = _loss(f, weights)
    tensor.data[...] = saved
    return (plus - minus) / 2


def gradcheck(f, tensors, rtol=1e-6, atol=1e-8, seed=0):
    """Assert that backward's gradients of ``f`` w.r.t. ``tensors`` match central differences.

    Args:
        f: a function of no arguments that computes a Tensor from ``tensors`` (closed over); it must
            be deterministic (seed inside it if it draws random numbers).
        tensors: float64 leaf Tensors (inputs or Parameters) that require gradients; their data is
            perturbed in place and restored.
    """
    rng = np.random.default_rng(seed)
    for t in tensors:
        assert t.dtype == np.float64 and t.requires_grad, "gradcheck needs float64 leaves with grads"
        t.grad = None
    out = f()
    weights = rng.standard_normal(out.shape)
    out.backward(backend.to_device(weights, dtype=out.dtype))
    for position, t in enumerate(tensors):
        assert t.grad is not None, f"tensor {position} received no gradient"
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype, \
            f"tensor {position}: gradient {t.grad.shape} {t.grad.dtype} for data {t.shape} {t.dtype}"
        analytic = backend.asnumpy(t.grad)
        if t.size <= ELEMENTWISE_LIMIT:
            numeric = np.zeros(t.shape)
            for index in np.ndindex(*t.shape):
                delta = np.zeros(t.shape)
                delta[index] = EPS
                numeric[index] = _perturbed(f, t, weights, backend.to_device(delta)) / EPS
            np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                       err_msg=f"gradient of tensor {position} {t.shape}")
        else:
            for _ in range(DIRECTIONS):
                direction = rng.standard_normal(t.shape)
                numeric = _perturbed(f, t, weights, backend.to_device(EPS * direction)) / EPS
                np.testing.assert_allclose((analytic * direction).sum(), numeric, rtol=rtol,
                                           atol=atol * np.sqrt(t.size),
                                           err_msg=f"directional derivative of tensor {position} "
                                                   f"{t.shape}")
