"""Evaluate market policies on held-out price paths ([Dworakowski 2019, section 5.4], docs/onenow.md).

A policy is a function observation -> action. :func:`greedy_policy` turns a Q-table and its
Discretizer into one; :func:`hold_policy` and :func:`random_policy` are the baselines, and the greedy
policy of value iteration's Q* is the optimum to beat. Every policy plays the same held-out paths
(drawn from generators seeded only by the evaluation seeds, never by training), and the cumulative
(undiscounted) reward is summarized over paths by its mean and standard deviation.
"""
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from minidl.rl.markets import Action


def greedy_policy(q, discretizer):
    """Policy acting greedily on the Q-table ``q`` (S, A): obs -> argmax_a q[discretizer(obs), a]."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != discretizer.n_states:
        raise ValueError(f"greedy_policy: expected a Q-table of shape ({discretizer.n_states}, A), "
                         f"got {q.shape}")
    return lambda observation: int(np.argmax(q[discretizer(observation)]))


def hold_policy(observation):
    """Baseline that never trades."""
    return int(Action.HOLD)


def random_policy(seed, n_actions=len(Action)):
    """Baseline drawing actions uniformly from its own generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return lambda observation: int(rng.integers(n_actions))


@dataclass
class Rollout:
    """One policy on one price path of T steps.

    Attributes: observations (T + 1, d) float32, actions (T,) int64, rewards (T,) float64.
    """
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    @property
    def cumulative_reward(self):
        """(T,) running sum of the rewards."""
        return np.cumsum(self.rewards)

    @property
    def total(self):
        """Sum of the rewards (undiscounted return)."""
        return float(self.rewards.sum())


def rollout(env, policy, prices):
    """Play ``policy`` on ``env`` along the price path ``prices`` (T + 1,), from a fresh reset.

    Returns a Rollout of T steps.
    """
    observation, _ = env.reset(options={"prices": prices})
    observations, actions, rewards = [observation], [], []
    done = False
    while not done:
        action = policy(observation)
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        actions.append(action)
        rewards.append(reward)
        done = terminated or truncated
    return Rollout(np.array(observations), np.array(actions, dtype=np.int64), np.array(rewards))


def held_out_paths(prices, n_steps, seeds):
    """(len(seeds), n_steps + 1) price paths of the process ``prices``; path i from default_rng(seeds[i])."""
    return np.stack([prices.path(np.random.default_rng(seed), n_steps + 1) for seed in seeds])


@dataclass
class Score:
    """Cumulative rewards of one policy over held-out paths: returns (n_paths,), their mean and std."""
    returns: np.ndarray

    @property
    def mean(self):
        return float(self.returns.mean())

    @property
    def std(self):
        """Sample standard deviation over paths (0 for a single path)."""
        return float(self.returns.std(ddof=1)) if self.returns.size > 1 else 0.0


def evaluate(env, policies, seeds, n_steps=None):
    """Score every policy in ``policies`` (dict name -> policy) on the same held-out paths, one per seed.

    Paths have ``n_steps`` steps (default ``env.episode_length``). Returns dict name -> Score.
    """
    paths = held_out_paths(env.prices, env.episode_length if n_steps is None else n_steps, seeds)
    return {name: Score(np.array([rollout(env, policy, path).total for path in paths]))
            for name, policy in policies.items()}


def baselines(q_star, discretizer, seed=0):
    """The policies to compare: hold-only, random (seeded) and greedy on value iteration's ``q_star``."""
    return {"hold": hold_policy, "random": random_policy(seed),
            "optimal": greedy_policy(q_star, discretizer)}


_MARKERS = {Action.ACCUMULATE: ("^", "tab:green"), Action.DISTRIBUTE: ("v", "tab:red")}


def plot_rollout(result, title=None, path=None):
    """Figure of a Rollout: price with trades marked, the actions, and the cumulative reward.

    Saves a PNG to ``path`` when given. Uses no pyplot state, so it is safe under any backend.
    Returns the matplotlib Figure.
    """
    steps = np.arange(result.actions.size)
    figure = Figure(figsize=(8, 6), layout="constrained")
    price_axes, action_axes, reward_axes = figure.subplots(3, 1, sharex=True)
    price_axes.plot(steps, result.observations[:-1, 0], color="0.4", lw=0.8)
    for action, (marker, colour) in _MARKERS.items():
        chosen = result.actions == action
        price_axes.scatter(steps[chosen], result.observations[:-1, 0][chosen], marker=marker, color=colour,
                           s=18, label=action.name.lower(), zorder=3)
    price_axes.set_ylabel("price")
    price_axes.legend(loc="upper right", fontsize="small")
    action_axes.step(steps, result.actions, where="post", color="tab:blue")
    action_axes.set_yticks([a.value for a in Action], [a.name.lower() for a in Action])
    action_axes.set_ylabel("action")
    reward_axes.plot(steps, result.cumulative_reward, color="tab:purple")
    reward_axes.set_ylabel("cumulative reward")
    reward_axes.set_xlabel("step")
    if title is not None:
        figure.suptitle(title)
    if path is not None:
        figure.savefig(path, format="png", dpi=100)
    return figure
