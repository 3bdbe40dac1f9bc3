import math

import numpy as np
import pytest
from scipy import integrate

from minidl.analysis import random_matrix as rm


def gaussian(rows, columns, sigma, seed=0):
    return sigma * np.random.default_rng(seed).standard_normal((rows, columns))


def mp_cdf(x, Q, sigma):
    low, _ = rm.marchenko_pastur_edges(Q, sigma)
    return integrate.quad(lambda t: rm.marchenko_pastur_density(t, Q, sigma), low, x, limit=200)[0]


@pytest.mark.parametrize("Q, sigma", [(1.0, 1.0), (4.0, 0.5), (2.5, 2.0)])
def test_the_density_integrates_to_one_between_its_edges(Q, sigma):
    low, high = rm.marchenko_pastur_edges(Q, sigma)
    assert low == pytest.approx(sigma ** 2 * (1 - Q ** -0.5) ** 2)
    assert high == pytest.approx(sigma ** 2 * (1 + Q ** -0.5) ** 2)
    total, _ = integrate.quad(lambda x: rm.marchenko_pastur_density(x, Q, sigma), low, high, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    assert rm.marchenko_pastur_density(high * 1.01, Q, sigma) == 0.0
    assert rm.marchenko_pastur_density(max(low * 0.99, -1.0), Q, sigma) == 0.0


def test_the_esd_of_a_gaussian_matrix_fills_the_marchenko_pastur_bulk():
    W = gaussian(300, 1200, 0.5)  # Q = 4, lambda_- = 0.0625, lambda_+ = 0.5625
    eigenvalues = rm.correlation_eigenvalues(W)
    low, high = rm.marchenko_pastur_edges(4, 0.5)
    assert (low, high) == pytest.approx((0.0625, 0.5625))
    assert eigenvalues.min() == pytest.approx(low, rel=0.05)
    assert eigenvalues.max() == pytest.approx(high, rel=0.05)
    empirical = np.arange(1, len(eigenvalues) + 1) / len(eigenvalues)
    grid = np.sort(eigenvalues)[::15]
    theory = np.array([mp_cdf(x, 4, 0.5) for x in grid])
    assert np.abs(theory - empirical[::15]).max() < 0.03  # Kolmogorov distance
    assert rm.fit_sigma(W) == pytest.approx(0.5, rel=0.02)
    assert rm.count_spikes(W) == 0
    density, edges = rm.empirical_spectral_density(W, bins=30)
    assert (density * np.diff(edges)).sum() == pytest.approx(1.0)


def test_conventions_use_the_gram_matrix_of_the_shorter_side_over_the_longer():
    W = gaussian(40, 10, 1.0)
    np.testing.assert_allclose(rm.correlation_eigenvalues(W), rm.correlation_eigenvalues(W.T))
    np.testing.assert_allclose(np.sort(rm.correlation_eigenvalues(W)),
                               np.linalg.eigvalsh(W.T @ W / 40), rtol=1e-10)
    assert rm.aspect_ratio(W) == rm.aspect_ratio(W.T) == 4.0


def test_planted_low_rank_signal_shows_as_spikes_above_the_bulk():
    rng = np.random.default_rng(1)
    noise = gaussian(200, 600, 1.0, seed=2)
    u, _ = np.linalg.qr(rng.standard_normal((200, 2)))
    v, _ = np.linalg.qr(rng.standard_normal((600, 2)))
    W = noise + u @ np.diag([3.0, 2.5]) @ v.T * math.sqrt(600)  # well past the BBP threshold
    fit = rm.marchenko_pastur_fit(W)
    assert fit["spikes"] == 2
    assert fit["sigma"] == pytest.approx(1.0, rel=0.05)
    assert fit["eigenvalues"][2] < fit["lambda_plus"] * 1.05 < fit["eigenvalues"][1]
    assert rm.count_spikes(W, sigma=10.0) == 0


def test_median_and_bad_parameters():
    median = rm.marchenko_pastur_median(3.0, 2.0)
    assert mp_cdf(median, 3.0, 2.0) == pytest.approx(0.5, abs=1e-8)
    with pytest.raises(ValueError, match=r"marchenko_pastur_edges: the aspect ratio Q \(longer side / shorter "
                                         r"side\) must be >= 1, got 0.5"):
        rm.marchenko_pastur_edges(0.5)
    with pytest.raises(ValueError, match="marchenko_pastur_density: the standard deviation sigma must be > 0"):
        rm.marchenko_pastur_density(1.0, 2.0, sigma=0.0)
    with pytest.raises(ValueError, match="median eigenvalue is 0"):
        rm.fit_sigma(np.diag([1.0, 0.0, 0.0]))
