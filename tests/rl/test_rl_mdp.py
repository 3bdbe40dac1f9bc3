"""The exactly known discretized MDP: bin distribution, expected rewards, transitions."""
import numpy as np
import pytest
from scipy.stats import norm

from minidl.rl.discretize import Discretizer, PriceGrid
from minidl.rl.markets import Action, InventoryMarketEnv, MarketEnv, NormalPrices, SinePrices, make_market
from minidl.rl.mdp import bin_statistics, market_mdp


def test_normal_bins_match_the_normal_distribution():
    grid = PriceGrid(-3.0, 9.0, 12)
    probabilities, means = bin_statistics(NormalPrices(3.0, 2.0), grid)
    cdf = norm.cdf(grid.edges[1:-1], 3.0, 2.0)
    assert np.allclose(probabilities, np.diff(np.concatenate([[0.0], cdf, [1.0]])), atol=1e-14)
    inner = slice(1, -1)                                    # truncated-normal means of the inner bins
    a, b = (grid.edges[:-1] - 3.0) / 2.0, (grid.edges[1:] - 3.0) / 2.0
    truncated = 3.0 + 2.0 * (norm.pdf(a) - norm.pdf(b)) / (norm.cdf(b) - norm.cdf(a))
    assert np.allclose(means[inner], truncated[inner], atol=1e-12)
    assert np.isclose(probabilities @ means, 3.0, atol=1e-12)


def test_shuffled_sine_bins_follow_the_arcsine_law():
    grid = PriceGrid(1.0, 5.0, 8)
    probabilities, means = bin_statistics(SinePrices(shuffle=True), grid)
    arcsine_cdf = 0.5 + np.arcsin((grid.edges - 3.0) / 2.0) / np.pi
    assert np.allclose(probabilities, np.diff(arcsine_cdf), atol=2e-4)
    assert np.all((means >= grid.edges[:-1]) & (means <= grid.edges[1:]))


def test_noisy_sine_bins_match_samples():
    prices = SinePrices(period=400, noise_sd=0.5, shuffle=True)
    grid = PriceGrid.covering(prices, 10)
    probabilities, means = bin_statistics(prices, grid)
    samples = prices.path(np.random.default_rng(0), 400_000)
    bins = grid.index(samples)
    frequencies = np.bincount(bins, minlength=10) / samples.size
    assert np.all(np.abs(frequencies - probabilities) < 5 * np.sqrt(probabilities / samples.size) + 1e-6)
    sample_means = np.bincount(bins, samples, minlength=10) / np.bincount(bins, minlength=10)
    assert np.allclose(sample_means, means, atol=0.01)


def test_flat_market_rewards_and_transitions():
    env = make_market("normal")
    discretizer = Discretizer.for_env(env, 6)
    mdp = market_mdp(env, discretizer)
    assert mdp.rewards.shape == (6, 3) and mdp.n_states == 6 and mdp.n_actions == 3
    assert np.allclose(mdp.rewards[:, Action.ACCUMULATE], 3.0 - mdp.bin_means - 1.0)
    assert np.allclose(mdp.rewards[:, Action.DISTRIBUTE], mdp.bin_means - 3.0 - 1.0)
    assert np.all(mdp.rewards[:, Action.HOLD] == -0.1)
    transitions = mdp.transitions()
    assert np.allclose(transitions.sum(axis=2), 1.0)
    assert np.allclose(transitions, mdp.price_probabilities[None, None, :])   # i.i.d., action-free


def test_inventory_mdp_moves_position_deterministically():
    env = InventoryMarketEnv(NormalPrices(), capacity=2)
    discretizer = Discretizer.for_env(env, 4)
    mdp = market_mdp(env, discretizer)
    assert mdp.next_position.tolist() == [[1, 0, 0], [2, 0, 1], [2, 1, 2]]   # invalid actions keep q
    transitions = mdp.transitions()
    assert np.allclose(transitions.sum(axis=2), 1.0)
    state = 1 * 4 + 2                                                          # position 1, bin 2
    assert np.allclose(transitions[state, Action.ACCUMULATE, 8:12], mdp.price_probabilities)
    assert transitions[state, Action.ACCUMULATE, :8].sum() == 0.0
    values = np.random.default_rng(0).standard_normal(mdp.n_states)
    assert np.allclose(mdp.expected_next_value(values), transitions @ values)


def test_inventory_expected_rewards_match_simulated_rewards():
    env = InventoryMarketEnv(NormalPrices(), capacity=2)
    discretizer = Discretizer.for_env(env, 5)
    mdp = market_mdp(env, discretizer)
    rng = np.random.default_rng(1)
    prices, next_prices = env.prices.path(rng, 400_000), env.prices.path(rng, 400_000)
    bins = discretizer.grid.index(prices)
    for position in range(3):
        for action in Action:
            rewards = env.reward(position, prices, next_prices, action)
            counts = np.bincount(bins, minlength=5)
            simulated = np.bincount(bins, rewards, 5) / counts
            spread = np.sqrt(np.maximum(np.bincount(bins, rewards ** 2, 5) / counts - simulated ** 2, 0.0))
            exact = mdp.rewards[position * 5:(position + 1) * 5, action]
            standard_error = spread / np.sqrt(counts)
            assert np.all(np.abs(simulated - exact) <= 5 * standard_error + 1e-9), (position, action)


def test_time_series_sine_and_mismatched_discretizer_are_refused():
    series = MarketEnv(SinePrices(shuffle=False))
    with pytest.raises(ValueError, match=r"market_mdp: expected i.i.d. prices.*shuffle=False"):
        market_mdp(series, Discretizer.for_env(series, 4))
    inventory = make_market("inventory", capacity=2)
    with pytest.raises(ValueError, match=r"market_mdp: expected a discretizer with capacity 2, got None"):
        market_mdp(inventory, Discretizer(PriceGrid(0, 1, 3)))
    normal = MarketEnv(NormalPrices())
    mdp = market_mdp(normal, Discretizer(PriceGrid(0, 1, 4)))
    with pytest.raises(ValueError, match=r"MarketMDP.expected_next_value: expected values of shape \(4,\)"):
        mdp.expected_next_value(np.zeros(3))
