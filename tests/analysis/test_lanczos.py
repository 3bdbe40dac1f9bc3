"""The extreme singular values without a full decomposition, against known spectra and the full SVD."""
import numpy as np
import pytest

from minidl.analysis import lanczos, spectrum


def orthogonal(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q


def matrix_with(values, rows, columns, seed=0):
    """U diag(values) V^T with random orthogonal U and V: a matrix whose singular values are known."""
    sigma = np.zeros((rows, columns))
    sigma[np.arange(len(values)), np.arange(len(values))] = values
    return orthogonal(rows, seed) @ sigma @ orthogonal(columns, seed + 1).T


@pytest.mark.parametrize("rows, columns", [(600, 600), (520, 640), (640, 520)])
def test_kappa_of_a_large_matrix_equals_its_known_value_beyond_1e4(rows, columns):
    r = min(rows, columns)
    # kappa = 1e6 (a Gram matrix would square it to 1e12); the bulk spread over six decades
    values = np.concatenate([[2e3], np.geomspace(1e3, 4e-3, r - 2), [2e-3]])
    A = matrix_with(values, rows, columns)
    assert min(A.shape) >= spectrum.ITERATIVE_MIN_SIZE  # the iterative route is the one tested
    kappa = spectrum.condition_number(A)
    assert kappa == pytest.approx(1e6, rel=1e-6)
    top, bottom, _ = lanczos.extreme_singular_values(A)
    assert top == pytest.approx(2e3, rel=1e-10) and bottom == pytest.approx(2e-3, rel=1e-8)


def test_iterative_kappa_equals_the_full_svd_on_a_random_matrix_with_clustered_extremes():
    A = np.random.default_rng(3).standard_normal((512, 512)).astype(np.float32)
    values = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    assert spectrum.condition_number(A) == pytest.approx(values[0] / values[-1], rel=1e-6)


def test_warm_starts_give_the_same_values_as_cold_ones():
    A = np.random.default_rng(4).standard_normal((40, 90))
    exact = np.linalg.svd(A, compute_uv=False)
    cold_top, cold_bottom, starts = lanczos.extreme_singular_values(A)
    B = A + 1e-3 * np.random.default_rng(5).standard_normal(A.shape)
    exact_b = np.linalg.svd(B, compute_uv=False)
    warm_top, warm_bottom, _ = lanczos.extreme_singular_values(B, starts)
    np.testing.assert_allclose([cold_top, cold_bottom], exact[[0, -1]], rtol=1e-10)
    np.testing.assert_allclose([warm_top, warm_bottom], exact_b[[0, -1]], rtol=1e-10)


def test_a_singular_matrix_has_sigma_min_zero_and_infinite_kappa():
    A = matrix_with([3.0, 2.0, 1.0, 0.0], 4, 4)
    A[:, -1] = 0.0  # exactly rank deficient: a zero pivot
    A[-1, :] = 0.0
    top, bottom, _ = lanczos.extreme_singular_values(A)
    assert bottom == 0.0 and top > 0
    zero = np.zeros((520, 520))
    assert spectrum.condition_number(zero) == np.inf


def test_the_dense_route_stays_for_small_matrices_and_stacks():
    W = matrix_with([4.0, 1.0, 0.5], 3, 5)
    assert spectrum.condition_number(W) == pytest.approx(8.0, rel=1e-12)
    per_position = np.stack([matrix_with([2.0, 1.0], 2, 2, seed) for seed in range(3)], axis=-1)
    kappas = spectrum.condition_number(per_position[:, :, None, :], per_position=True)  # (2, 2, 1, 3)
    np.testing.assert_allclose(kappas, [[2.0, 2.0, 2.0]], rtol=1e-12)
