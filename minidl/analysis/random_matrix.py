"""The random-matrix view of a weight matrix: its empirical spectral density against Marchenko-Pastur.

[Heitmann 2019, section 3.3] (after Martin and Mahoney 2018). Conventions used throughout this module:

- A weight W of shape (rows, columns) is taken with its longer side first: N = max(rows, columns),
  M = min(rows, columns), aspect ratio Q = N / M >= 1. ([Heitmann 2019] writes Q = n / m for W in R^{m x n},
  the same number for a layer with at least as many inputs as outputs.)
- The correlation matrix is the M x M Gram matrix of the shorter side, normalized by the longer:
  X = W^T W / N when rows >= columns, X = W W^T / N otherwise. Its eigenvalues are
  lambda_i = sigma_i^2 / N for the singular values sigma_i of W; they are what the ESD is built from.
- If the entries of W are i.i.d. with mean 0 and variance sigma^2, then as N, M grow with N / M = Q the
  ESD of X tends to the Marchenko-Pastur density

      rho(lambda) = Q / (2 pi sigma^2 lambda) * sqrt((lambda_+ - lambda)(lambda - lambda_-)),
      lambda_(+/-) = sigma^2 (1 +/- 1 / sqrt(Q))^2,

  on [lambda_-, lambda_+] and 0 elsewhere; it integrates to 1 for every Q >= 1.

``sigma`` in this module is always the standard deviation of the entries (the variance is sigma^2).
"""
import math

import numpy
from scipy import integrate, optimize

from minidl import checks
from minidl.analysis.spectrum import singular_values, weight_matrix


def _check_ratio(Q, where):
    """The aspect ratio Q = longer side / shorter side, >= 1."""
    return checks.real(Q, "the aspect ratio Q (longer side / shorter side)", where, low=1)


def _check_sigma(sigma, where):
    """The entries' standard deviation sigma, > 0."""
    return checks.real(sigma, "the standard deviation sigma", where, low=0, low_open=True)


def _eigenvalues(source, where):
    """(eigenvalues of X descending, M, N) from one decomposition of the weight of ``source``."""
    matrix = weight_matrix(source, where=where)
    m, n = sorted(matrix.shape)
    return singular_values(matrix) ** 2 / n, m, n


def aspect_ratio(source):
    """Q = N / M: the longer side of the weight matrix over the shorter (>= 1)."""
    m, n = sorted(weight_matrix(source, where="aspect_ratio").shape)
    return n / m


def correlation_eigenvalues(source):
    """Eigenvalues of X (the M x M Gram matrix over N, module docstring): sigma_i^2 / N, descending.

    source: a layer, Tensor or array (conv weights reshaped to (out, in * kh * kw)) -> (M,) float64.
    """
    return _eigenvalues(source, "correlation_eigenvalues")[0]


def empirical_spectral_density(source, bins=50, value_range=None):
    """Histogram of the eigenvalues of X, normalized to integrate to 1 [Heitmann 2019, figures 6-7].

    Returns:
        (density, edges): (bins,) densities and (bins + 1,) bin edges, float64.
    """
    eigenvalues = correlation_eigenvalues(source)
    return numpy.histogram(eigenvalues, bins=bins, range=value_range, density=True)


def marchenko_pastur_edges(Q, sigma=1.0):
    """(lambda_-, lambda_+) = sigma^2 (1 -/+ 1 / sqrt(Q))^2, the bulk edges for aspect ratio Q >= 1.

    Raises:
        TypeError: when Q or sigma is not a real number.
        ValueError: for Q < 1, sigma <= 0, NaN or infinity.
    """
    Q, sigma = _check_ratio(Q, "marchenko_pastur_edges"), _check_sigma(sigma, "marchenko_pastur_edges")
    root = 1.0 / math.sqrt(Q)
    return sigma ** 2 * (1 - root) ** 2, sigma ** 2 * (1 + root) ** 2


def marchenko_pastur_density(x, Q, sigma=1.0):
    """The Marchenko-Pastur density rho(x) for aspect ratio Q >= 1 and entry variance sigma^2.

    x: scalar or array of eigenvalues -> float64 array of x's shape (0 outside the bulk).

    Raises:
        TypeError: when Q or sigma is not a real number.
        ValueError: for Q < 1, sigma <= 0, NaN or infinity.
    """
    Q, sigma = _check_ratio(Q, "marchenko_pastur_density"), _check_sigma(sigma, "marchenko_pastur_density")
    low, high = marchenko_pastur_edges(Q, sigma)
    x = numpy.asarray(x, dtype=numpy.float64)
    inside = (x > low) & (x < high) & (x > 0)
    safe = numpy.where(inside, x, 1.0)
    density = Q / (2 * math.pi * sigma ** 2 * safe) * numpy.sqrt(
        numpy.clip((high - safe) * (safe - low), 0.0, None))
    return numpy.where(inside, density, 0.0)


def _marchenko_pastur_cdf(x, Q):
    """P(lambda <= x) for sigma = 1, by quadrature (the integrable 1/sqrt singularities are at the edges)."""
    low, high = marchenko_pastur_edges(Q)
    if x <= low:
        return 0.0
    if x >= high:
        return 1.0
    return integrate.quad(lambda t: float(marchenko_pastur_density(t, Q)), low, x, limit=200)[0]


def marchenko_pastur_median(Q, sigma=1.0):
    """The median of the Marchenko-Pastur law: the x with P(lambda <= x) = 1/2.

    Raises:
        TypeError: when Q or sigma is not a real number.
        ValueError: for Q < 1, sigma <= 0, NaN or infinity.
    """
    Q, sigma = _check_ratio(Q, "marchenko_pastur_median"), _check_sigma(sigma, "marchenko_pastur_median")
    low, high = marchenko_pastur_edges(Q)
    return sigma ** 2 * optimize.brentq(lambda x: _marchenko_pastur_cdf(x, Q) - 0.5, low, high, xtol=1e-12)


def fit_sigma(source):
    """Fit the entry standard deviation sigma of the Marchenko-Pastur bulk to a weight's ESD.

    The law scales with sigma^2, so sigma^2 = median(lambda) / (median of MP(Q, sigma = 1)). The median
    ignores the few large eigenvalues that a learned signal adds above the bulk, where the mean
    (E lambda = sigma^2) would be pulled up by them.
    """
    eigenvalues, m, n = _eigenvalues(source, "fit_sigma")
    return _fit_sigma(eigenvalues, n / m)


def _fit_sigma(eigenvalues, Q):
    median = float(numpy.median(eigenvalues))
    if median <= 0:
        raise ValueError("fit_sigma: the median eigenvalue is 0 (more than half the spectrum is zero); "
                         "no Marchenko-Pastur bulk to fit")
    return math.sqrt(median / marchenko_pastur_median(Q))


def edge_fluctuation(M, N, sigma=1.0):
    """Tracy-Widom scale of the largest eigenvalue of a pure-noise X (Johnstone 2001):

        s = sigma^2 (sqrt(N) + sqrt(M)) (1 / sqrt(N) + 1 / sqrt(M))^(1/3) / N.
    """
    return sigma ** 2 * (math.sqrt(N) + math.sqrt(M)) * (1 / math.sqrt(N) + 1 / math.sqrt(M)) ** (1 / 3) / N


def count_spikes(source, sigma=None, margin=3.0):
    """Number of eigenvalues of X above the bulk: lambda > lambda_+ + margin * s.

    s is :func:`edge_fluctuation`, so the largest eigenvalue of pure noise (which wanders about
    lambda_+ on that scale) is not counted; ``sigma`` defaults to :func:`fit_sigma`.
    """
    return marchenko_pastur_fit(source, sigma, margin)["spikes"]


def marchenko_pastur_fit(source, sigma=None, margin=3.0):
    """Everything the ESD plot needs, from one decomposition.

    Returns a dict: eigenvalues (descending float64), Q, sigma (fitted unless given), lambda_minus,
    lambda_plus, threshold (lambda_+ + margin * s) and spikes (the count above the threshold).
    """
    eigenvalues, m, n = _eigenvalues(source, "marchenko_pastur_fit")
    Q = n / m
    sigma = _fit_sigma(eigenvalues, Q) if sigma is None else _check_sigma(sigma, "marchenko_pastur_fit")
    low, high = marchenko_pastur_edges(Q, sigma)
    threshold = high + margin * edge_fluctuation(m, n, sigma)
    return {"eigenvalues": eigenvalues, "Q": Q, "sigma": sigma, "lambda_minus": low,
            "lambda_plus": high, "threshold": threshold, "spikes": int((eigenvalues > threshold).sum())}
