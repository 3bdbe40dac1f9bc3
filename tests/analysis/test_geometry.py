import math

import numpy as np
import pytest

from minidl import nn
from minidl.analysis import geometry


W = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])


def test_cosine_similarity_and_norms_by_hand():
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(geometry.cosine_similarity(W), [[1, r, 0], [r, 1, -r], [0, -r, 1]], atol=1e-15)
    np.testing.assert_allclose(geometry.unit_norms(W), [1.0, math.sqrt(2), 2.0])
    layer = nn.Linear(3, 4)
    X = geometry.cosine_similarity(layer)
    assert X.shape == (4, 4) and X.dtype == np.float64
    np.testing.assert_allclose(np.diag(X), 1.0, rtol=1e-6)
    zero = geometry.cosine_similarity(np.array([[0.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_array_equal(zero, [[0.0, 0.0], [0.0, 1.0]])


def test_gaussian_adjacency_by_hand_with_threshold_and_empty_diagonal():
    r = 1 / math.sqrt(2)
    A = geometry.gaussian_adjacency(W, sigma=1.0, threshold=0.0)
    expected = np.exp(-(1 - np.array([[1, r, 0], [r, 1, -r], [0, -r, 1]])))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(A, expected)
    sparse = geometry.gaussian_adjacency(W, sigma=1.0, threshold=0.5)  # exp(-(1 - r)) = 0.746 stays
    np.testing.assert_allclose(sparse, np.where(expected >= 0.5, expected, 0.0))
    assert sparse[0, 2] == 0.0 and sparse[0, 1] == pytest.approx(math.exp(r - 1))
    with pytest.raises(ValueError, match="gaussian_adjacency: sigma must be > 0, got 0.0"):
        geometry.gaussian_adjacency(W, sigma=0.0)
    with pytest.raises(ValueError, match=r"gaussian_adjacency: threshold must be in \[0, 1\], got 2.0"):
        geometry.gaussian_adjacency(W, threshold=2.0)


def test_force_layout_puts_linked_units_together_and_follows_its_seed():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(6), rng.standard_normal(6)
    b -= a * (a @ b) / (a @ a)  # orthogonal directions
    rows = np.r_[[a + 0.05 * rng.standard_normal(6) for _ in range(5)],
                 [b + 0.05 * rng.standard_normal(6) for _ in range(5)]]
    A = geometry.gaussian_adjacency(rows, sigma=0.5, threshold=0.5)
    assert A[:5, 5:].max() == 0 and A[:5, :5].sum() > 0
    positions = geometry.force_layout(A, seed=1)
    assert positions.shape == (10, 2) and np.abs(positions).max() == pytest.approx(1.0)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    within = (distance[:5, :5].sum() + distance[5:, 5:].sum()) / 40
    assert within < 0.5 * distance[:5, 5:].mean()
    np.testing.assert_array_equal(positions, geometry.force_layout(A, seed=1))
    with pytest.raises(ValueError, match="square"):
        geometry.force_layout(np.ones((2, 3)))
