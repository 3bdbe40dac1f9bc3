"""The largest and the smallest singular value of a matrix without a full decomposition.

sigma_max(A) comes from Golub-Kahan-Lanczos bidiagonalization [Golub & Van Loan, Matrix Computations,
section 10.4] with full reorthogonalization, restarted from the best Ritz vector: only products A v and
A^T u, so its cost is a few dozen matrix-vector products instead of an O(n^3) SVD.

sigma_min(A) is 1 / sigma_max(A^-1) for a square A, the same iteration run on the inverse through one LU
factorization (inverse iteration, accelerated by the Krylov subspace). A rectangular A has the singular
values of the triangular factor R of the QR decomposition of its tall orientation, so R takes its place.
Neither squares the condition number (a Gram matrix would): the values are accurate to the working
precision times kappa, not kappa^2.

Both iterations stop when the residual of the Ritz triplet, ||A^T u - sigma v||, is below ``tol`` sigma.
The singular value itself is then within tol^2 sigma^2 / gap of the true one (a Ritz value's error is
quadratic in its residual), far below ``tol``. Start vectors from an earlier call on a nearby matrix
(the same layer a little later) make the iterations converge in fewer steps;
:func:`extreme_singular_values` returns them for the next call. Host (NumPy/SciPy) arrays only.
"""
import warnings

import numpy
import scipy.linalg

KRYLOV_STEPS = 32  # Krylov subspace dimension per restart
CHECK_EVERY = 3  # steps between convergence checks
MAX_RESTARTS = 60
DEFAULT_TOL = 1e-8


class NotConverged(RuntimeError):
    """The iteration did not reach the tolerance within its restarts."""


def largest_singular_triplet(apply, apply_t, size, start, tol=DEFAULT_TOL):
    """sigma_max of the linear map v -> apply(v) on R^size (apply_t is its transpose), and its right
    singular vector, by restarted Golub-Kahan-Lanczos from ``start`` (a (size,) array).

    The Ritz values are checked every CHECK_EVERY steps, so a good start stops after a few products.

    Returns:
        (sigma, v): the float and the unit right singular vector.

    Raises:
        NotConverged: when the residual stays above ``tol`` sigma after MAX_RESTARTS restarts.
    """
    steps = min(KRYLOV_STEPS, size)
    v = start / numpy.linalg.norm(start)
    V = numpy.empty((steps + 1, size))  # rows: the right Lanczos vectors
    U = None  # rows: the left ones, allocated at the first product (its length is the map's output)
    for _ in range(MAX_RESTARTS):
        alphas, betas = [], []
        V[0] = v
        for j in range(steps):
            u = apply(V[j])
            if U is None:
                U = numpy.empty((steps, len(u)))
            if j:
                u -= betas[-1] * U[j - 1]
                u -= U[:j].T @ (U[:j] @ u)
            alpha = numpy.linalg.norm(u)
            if alpha == 0.0:  # A v = 0 for the start: restart elsewhere
                break
            U[j] = u / alpha
            alphas.append(alpha)
            w = apply_t(U[j]) - alpha * V[j]
            w -= V[:j + 1].T @ (V[:j + 1] @ w)
            betas.append(numpy.linalg.norm(w))
            V[j + 1] = w / betas[-1] if betas[-1] > 0 else 0.0
            if (j + 1) % CHECK_EVERY and j + 1 < steps and betas[-1] > 0:
                continue
            B = numpy.diag(alphas) + numpy.diag(betas[:-1], 1)
            P, sigmas, Qt = numpy.linalg.svd(B)
            v = Qt[0] @ V[:j + 1]
            v /= numpy.linalg.norm(v)
            if betas[-1] * abs(P[j, 0]) <= tol * sigmas[0]:  # the residual ||A^T u - sigma v||
                return float(sigmas[0]), v
        if not alphas:
            v = numpy.roll(v, 1) + 1.0 / size
    raise NotConverged(f"largest_singular_triplet: no convergence to tol={tol} in {MAX_RESTARTS} "
                       f"restarts of {steps} steps")


def _inverse(matrix):
    """(solve, solve_t, size) for the products with the inverse of a square matrix whose singular values
    are A's: A itself through LU, or for a rectangular A the factor R of the QR decomposition of its
    tall side. None when that factor is exactly singular (a zero pivot)."""
    rows, columns = matrix.shape
    if rows == columns:
        with warnings.catch_warnings():  # a zero pivot is checked just below
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            factors = scipy.linalg.lu_factor(matrix, check_finite=False)
        if not numpy.all(numpy.diag(factors[0])):
            return None
        return (lambda b: scipy.linalg.lu_solve(factors, b, check_finite=False),
                lambda b: scipy.linalg.lu_solve(factors, b, trans=1, check_finite=False), rows)
    tall = matrix if rows > columns else matrix.T
    R = scipy.linalg.qr(tall, mode="r", check_finite=False)[0][:tall.shape[1]]
    if not numpy.all(numpy.diag(R)):
        return None
    return (lambda b: scipy.linalg.solve_triangular(R, b, check_finite=False),
            lambda b: scipy.linalg.solve_triangular(R, b, trans=1, check_finite=False), R.shape[0])


def extreme_singular_values(matrix, starts=None, tol=DEFAULT_TOL):
    """(sigma_max, sigma_min, starts) of a float64 host matrix (rows x columns).

    Args:
        starts: the start vectors returned by an earlier call on a matrix of the same shape, or None
            (fixed pseudo-random starts: the result is deterministic).
        tol: the relative residual at which each iteration stops (see the module docstring).

    Returns:
        sigma_max, sigma_min (floats; sigma_min is 0.0 for an exactly singular matrix) and the start
        vectors for the next call.

    Raises:
        NotConverged: when an iteration does not converge (the caller falls back to a dense SVD).
    """
    rows, columns = matrix.shape
    if starts is None:
        generator = numpy.random.default_rng(0)
        starts = (generator.standard_normal(columns), generator.standard_normal(min(rows, columns)))
    top, v_top = largest_singular_triplet(lambda v: matrix @ v, lambda u: matrix.T @ u, columns,
                                          starts[0], tol)
    inverse = _inverse(matrix)
    if inverse is None:
        return top, 0.0, (v_top, starts[1])
    solve, solve_t, size = inverse
    inverse_top, v_bottom = largest_singular_triplet(solve, solve_t, size, starts[1], tol)
    return top, 1.0 / inverse_top, (v_top, v_bottom)
