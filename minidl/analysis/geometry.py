"""The geometry of a layer's weight vectors: norms, cosine similarities and a similarity graph.

[Heitmann 2019, section 3.2]. For W (m, n) with rows w_i (the units), W^ has the rows scaled to unit length
and X = W^ W^^T holds the cosine similarities. The cosine distance 1 - X_ij lies in [0, 2] (0 colinear,
1 orthogonal, 2 opposite) and a Gaussian turns it into an edge weight

    A_ij = exp(-(1 - X_ij) / s^2),

kept only where A_ij >= threshold (and 0 on the diagonal). A force layout places the units so that
strongly linked ones sit together; :func:`minidl.analysis.plots.unit_graph` draws it with node sizes
given by ||w_i||. Everything here works on the host in float64 (an m x m matrix).
"""
import numpy

from minidl import backend, checks
from minidl.analysis.spectrum import weight_matrix


def _rows(source, where):
    return backend.asnumpy(weight_matrix(source, where=where)).astype(numpy.float64)


def unit_norms(source):
    """||w_i|| for every unit (row) of the weight of ``source``: (m,) float64."""
    return numpy.linalg.norm(_rows(source, "unit_norms"), axis=1)


def cosine_similarity(source):
    """X = W^ W^^T, the (m, m) float64 matrix of cosines between units; a zero row has cosine 0 with all."""
    rows = _rows(source, "cosine_similarity")
    norms = numpy.linalg.norm(rows, axis=1, keepdims=True)
    unit = rows / numpy.where(norms > 0, norms, 1.0)
    return unit @ unit.T


def gaussian_adjacency(source, sigma=0.5, threshold=0.5):
    """A_ij = exp(-(1 - X_ij) / sigma^2) where it is >= threshold, else 0; zero diagonal: (m, m) float64.

    Raises:
        TypeError: when ``sigma`` or ``threshold`` is not a real number.
        ValueError: for sigma <= 0, a threshold outside [0, 1], NaN or infinity.
    """
    sigma = checks.real(sigma, "sigma", "gaussian_adjacency", low=0, low_open=True)
    threshold = checks.real(threshold, "threshold", "gaussian_adjacency", low=0, high=1)
    weights = numpy.exp(-(1.0 - cosine_similarity(source)) / sigma ** 2)
    weights[weights < threshold] = 0.0
    numpy.fill_diagonal(weights, 0.0)
    return weights


def force_layout(adjacency, iterations=200, seed=0):
    """2-D positions of graph nodes by a Fruchterman-Reingold force layout, seeded.

    Edges pull with force A_ij d^2 / k, every pair pushes apart with k^2 / d, and a weak gravity keeps
    disconnected parts in view (k = 1 / sqrt(m)); each step moves a node at most the current temperature,
    which cools linearly to 0. adjacency: (m, m) symmetric non-negative -> (m, 2) float64 in [-1, 1].
    """
    A = numpy.asarray(adjacency, dtype=numpy.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"force_layout: expected a square adjacency matrix, got shape {A.shape}")
    m = len(A)
    positions = numpy.random.default_rng(seed).uniform(-1, 1, (m, 2))
    if m < 2:
        return positions
    k = 1.0 / numpy.sqrt(m)
    for step in range(iterations):
        delta = positions[:, None, :] - positions[None, :, :]
        distance = numpy.maximum(numpy.linalg.norm(delta, axis=2), 1e-9)
        magnitude = k ** 2 / distance ** 2 - A * distance / k  # repulsion minus attraction, over d
        numpy.fill_diagonal(magnitude, 0.0)
        force = (delta * magnitude[:, :, None]).sum(axis=1) - 0.1 * positions
        length = numpy.maximum(numpy.linalg.norm(force, axis=1, keepdims=True), 1e-12)
        temperature = 0.1 * (1 - step / iterations)
        positions += force / length * numpy.minimum(length, temperature)
    positions -= positions.mean(axis=0)
    return positions / max(numpy.abs(positions).max(), 1e-12)
