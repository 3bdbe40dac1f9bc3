"""The exactly known discretized MDP of a OneNow market ([Dworakowski 2019, section 4.3.2], docs/onenow.md).

With i.i.d. prices (NormalPrices, or SinePrices with ``shuffle=True``) the state (position, price bin)
is Markov: the next price bin is drawn from the stationary bin distribution whatever the action, and
the position moves deterministically (it stays 0 in the paper's market). Both markets' rewards are
linear in the prices, so the expected reward of (state, action) is the reward at the price's
conditional mean within its bin (and, for inventory marked to market, at the stationary mean of the
next price). Everything here is computed from the price process's stationary distribution, never from
samples, so value iteration on it gives the exact Q* that Q-learning should approach.

The unshuffled sine is a time series (the next price depends on the phase, not on the price alone), so
it has no such MDP; :func:`market_mdp` refuses it.
"""
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from minidl import checks
from minidl.rl.discretize import Discretizer
from minidl.rl.markets import Action, InventoryMarketEnv, MarketEnv

_CHUNK = 1024  # mixture components integrated at a time (bounds memory to _CHUNK x n_bins)


def bin_statistics(prices, grid):
    """Stationary probability and conditional mean price of every bin of ``grid``.

    ``prices`` is a price process from minidl.rl.markets; its stationary distribution is the mixture
    ``prices.mixture()`` of Gaussians (point masses when the sd is 0, placed at their float32 value, the
    price the agent observes). Returns (probabilities (n_bins,), means (n_bins,)), float64; a bin of
    zero probability gets its centre as mean.
    """
    centres, sd, weights = prices.mixture()
    probabilities = np.zeros(grid.n_bins)
    partial_means = np.zeros(grid.n_bins)  # E[p 1{p in bin}]
    if sd == 0.0:
        observed = centres.astype(np.float32).astype(np.float64)
        bins = grid.index(observed)
        probabilities += np.bincount(bins, weights, grid.n_bins)
        partial_means += np.bincount(bins, weights * observed, grid.n_bins)
    else:
        bounds = np.concatenate([[-np.inf], grid.edges[1:-1], [np.inf]])
        for start in range(0, centres.size, _CHUNK):
            mu, w = centres[start:start + _CHUNK, None], weights[start:start + _CHUNK, None]
            z = (bounds - mu) / sd                             # (chunk, n_bins + 1)
            mass = np.diff(ndtr(z), axis=1)                    # P(bin | component)
            density = np.exp(-0.5 * np.where(np.isfinite(z), z, 0.0) ** 2) / np.sqrt(2.0 * np.pi)
            density = np.where(np.isfinite(z), density, 0.0)   # phi(+-inf) = 0
            partial = mu * mass - sd * np.diff(density, axis=1)
            probabilities += (w * mass).sum(axis=0)
            partial_means += (w * partial).sum(axis=0)
    means = np.where(probabilities > 0.0, partial_means / np.where(probabilities > 0.0, probabilities, 1.0),
                     grid.centers)
    return probabilities / probabilities.sum(), means


@dataclass(frozen=True)
class MarketMDP:
    """A discretized market MDP with S = n_positions * n_bins states and A = 3 actions.

    Attributes:
        discretizer: the Discretizer mapping observations to states (state = position * n_bins + bin).
        price_probabilities: (n_bins,) stationary distribution of the price bin.
        bin_means: (n_bins,) conditional mean price of each bin.
        next_position: (n_positions, A) int64 position after each action (invalid actions keep it).
        rewards: (S, A) float64 expected immediate reward.
    """
    discretizer: Discretizer
    price_probabilities: np.ndarray
    bin_means: np.ndarray
    next_position: np.ndarray
    rewards: np.ndarray

    @property
    def n_states(self):
        return self.rewards.shape[0]

    @property
    def n_actions(self):
        return self.rewards.shape[1]

    def expected_next_value(self, values):
        """E[values(s') | s, a] for values (S,): an (S, A) array.

        The next bin is independent of everything, so this is the mean over bins of values at the
        next position, looked up for every (position, action).
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_states,):
            raise ValueError(f"MarketMDP.expected_next_value: expected values of shape ({self.n_states},), "
                             f"got {values.shape}")
        n_bins = self.price_probabilities.size
        per_position = values.reshape(-1, n_bins) @ self.price_probabilities   # (n_positions,)
        return np.repeat(per_position[self.next_position], n_bins, axis=0)

    def transitions(self):
        """Dense transition probabilities P[s, a, s'] (S, A, S), for small MDPs and for checking."""
        n_bins = self.price_probabilities.size
        probabilities = np.zeros((self.n_states, self.n_actions, self.n_states))
        for state in range(self.n_states):
            for action in range(self.n_actions):
                start = self.next_position[state // n_bins, action] * n_bins
                probabilities[state, action, start:start + n_bins] = self.price_probabilities
        return probabilities


def market_mdp(env, discretizer):
    """The exact discretized MDP of the market ``env`` (MarketEnv or InventoryMarketEnv), as MarketMDP.

    Raises:
        TypeError: when ``env`` is not a MarketEnv or InventoryMarketEnv, or ``discretizer`` not a
            Discretizer.
        ValueError: when the env's prices are not i.i.d. (the unshuffled sine) or when the
            discretizer's capacity does not match the env's.
    """
    checks.instance(env, (MarketEnv, InventoryMarketEnv), "env", "market_mdp")
    checks.instance(discretizer, Discretizer, "discretizer", "market_mdp")
    if not env.prices.iid:
        raise ValueError(f"market_mdp: expected i.i.d. prices (a Markov price state), got {env.prices!r}; "
                         "the unshuffled sine is a time series, use SinePrices(shuffle=True)")
    capacity = getattr(env, "capacity", None)
    if discretizer.capacity != capacity:
        raise ValueError(f"market_mdp: expected a discretizer with capacity {capacity}, "
                         f"got {discretizer.capacity}")
    probabilities, means = bin_statistics(env.prices, discretizer.grid)
    actions = np.arange(len(Action))
    if isinstance(env, InventoryMarketEnv):
        positions = np.arange(discretizer.n_positions)[:, None, None]             # (P, 1, 1)
        next_position, _ = env.transition(positions[:, 0], actions[None, :])      # (P, A)
        next_mean = float(probabilities @ means)                                   # E[p'], stationary
        rewards = env.reward(positions, means[None, :, None], next_mean, actions[None, None, :])  # (P, B, A)
    else:
        next_position = np.zeros((1, actions.size), dtype=np.int64)
        rewards = env.reward(means[:, None], actions[None, :])[None]
    rewards = np.broadcast_to(rewards, (discretizer.n_positions, discretizer.grid.n_bins, actions.size))
    return MarketMDP(discretizer=discretizer, price_probabilities=probabilities, bin_means=means,
                     next_position=np.asarray(next_position, dtype=np.int64),
                     rewards=rewards.reshape(discretizer.n_states, actions.size).astype(np.float64))
