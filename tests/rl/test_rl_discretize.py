"""Price bins and observation -> state encoding."""
import numpy as np
import pytest

from minidl.rl.discretize import Discretizer, PriceGrid
from minidl.rl.markets import NormalPrices, make_market


def test_bins_are_half_open_and_ends_absorb_outliers():
    grid = PriceGrid(0.0, 4.0, 4)
    assert grid.edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert grid.centers.tolist() == [0.5, 1.5, 2.5, 3.5]
    assert grid.index(np.array([-7.0, 0.0, 0.99, 1.0, 3.5, 4.0, 12.0])).tolist() == [0, 0, 0, 1, 3, 3, 3]
    assert int(grid.index(2.5)) == 2


def test_rounding_grid_is_the_papers_two_decimal_state():
    grid = PriceGrid.rounding(-3.0, 9.0, decimals=2)
    assert grid.n_bins == 1201
    prices = np.random.default_rng(0).uniform(-2.99, 8.99, 10_000)
    assert np.allclose(grid.centers[grid.index(prices)], np.round(prices, 2))


def test_covering_grid_spans_three_standard_deviations():
    grid = PriceGrid.covering(NormalPrices(3.0, 2.0), 12)
    assert grid.edges[0] == -3.0 and grid.edges[-1] == 9.0 and grid.n_bins == 12


def test_discretizer_encodes_position_major_states():
    grid = PriceGrid(0.0, 4.0, 4)
    flat = Discretizer(grid)
    assert flat.n_states == 4 and int(flat(np.array([2.2], dtype=np.float32))) == 2
    stocked = Discretizer(grid, capacity=2)
    observations = np.array([[0.5, 0.0], [3.5, 0.0], [0.5, 1.0], [2.5, 2.0]], dtype=np.float32)
    states = stocked(observations)
    assert stocked.n_states == 12 and states.tolist() == [0, 3, 4, 10]
    assert stocked.position(states).tolist() == [0, 0, 1, 2]
    assert stocked.price_bin(states).tolist() == [0, 3, 0, 2]


def test_discretizer_for_env_matches_env_observations():
    env = make_market("inventory", capacity=3)
    discretizer = Discretizer.for_env(env, 10)
    observation, _ = env.reset(seed=0, options={"position": 3})
    state = int(discretizer(observation))
    assert discretizer.position(state) == 3
    assert discretizer.price_bin(state) == discretizer.grid.index(observation[0])


@pytest.mark.parametrize("make, message", [
    (lambda: PriceGrid(1.0, 1.0, 3), r"PriceGrid: high must be > 1.0, got 1.0"),
    (lambda: PriceGrid(0.0, 1.0, 0), r"PriceGrid: n_bins must be an integer >= 1, got 0"),
    (lambda: Discretizer(PriceGrid(0, 1, 2), capacity=0), r"Discretizer: capacity must be an integer >= 1, got 0"),
    (lambda: Discretizer(PriceGrid(0, 1, 2))(np.zeros(2)),
     r"Discretizer: expected observations .*\(\.\.\., 1\)"),
    (lambda: Discretizer(PriceGrid(0, 1, 2), capacity=1)([0.5, 2.0]),
     r"Discretizer: expected positions in 0..1"),
])
def test_bad_grids_and_observations_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
