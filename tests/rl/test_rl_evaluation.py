"""Policies on held-out paths: the value-iteration optimum beats the baselines; rollouts and plots."""
import matplotlib.figure
import numpy as np
import pytest

from minidl.rl.discretize import Discretizer
from minidl.rl.evaluation import (baselines, evaluate, greedy_policy, held_out_paths, hold_policy,
                                  plot_rollout, random_policy, rollout)
from minidl.rl.markets import Action, make_market
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import value_iteration

SEEDS = range(1000, 1012)


@pytest.mark.parametrize("name, kwargs", [("normal", {}), ("sine", {}), ("inventory", {"capacity": 2})])
def test_optimum_beats_hold_and_random_in_expectation(name, kwargs):
    env = make_market(name, episode_length=100, **kwargs)
    discretizer = Discretizer.for_env(env, 12)
    q_star, _ = value_iteration(market_mdp(env, discretizer), 0.9)
    scores = evaluate(env, baselines(q_star, discretizer, seed=0), SEEDS)
    optimal, hold, random = scores["optimal"], scores["hold"], scores["random"]
    assert optimal.returns.shape == (len(SEEDS),)
    standard_error = np.sqrt(optimal.std ** 2 + random.std ** 2) / np.sqrt(len(SEEDS))
    assert optimal.mean > hold.mean + 3 * optimal.std / np.sqrt(len(SEEDS))
    assert optimal.mean > random.mean + 3 * standard_error
    assert np.isclose(hold.mean, -0.1 * 100) and hold.std == 0.0      # never trades, pays the wait


def test_rollout_replays_the_given_path():
    env = make_market("normal")
    path = np.array([1.0, 5.0, 3.0, 0.5])
    result = rollout(env, lambda obs: Action.ACCUMULATE if obs[0] < 2 else Action.DISTRIBUTE, path)
    assert result.actions.tolist() == [0, 1, 1]
    assert np.allclose(result.rewards, [(3 - 1) - 1, (5 - 3) - 1, (3 - 3) - 1])
    assert np.allclose(result.cumulative_reward, [1, 2, 1]) and result.total == 1.0
    assert np.array_equal(result.observations[:, 0], path.astype(np.float32))


def test_greedy_policy_reads_the_q_table():
    env = make_market("inventory", capacity=1)
    discretizer = Discretizer.for_env(env, 4)
    q = np.zeros((discretizer.n_states, 3))
    q[discretizer(np.array([3.5, 1.0])), Action.DISTRIBUTE] = 1.0
    policy = greedy_policy(q, discretizer)
    assert policy(np.array([3.5, 1.0], dtype=np.float32)) == Action.DISTRIBUTE
    assert policy(np.array([3.5, 0.0], dtype=np.float32)) == Action.ACCUMULATE     # ties: lowest index
    with pytest.raises(ValueError, match=r"greedy_policy: expected a Q-table of shape \(8, A\), "
                                         r"got \(4, 3\)"):
        greedy_policy(np.zeros((4, 3)), discretizer)


def test_baselines_are_what_they_say():
    assert hold_policy(np.zeros(1)) == Action.HOLD
    first, second = random_policy(5), random_policy(5)
    assert [first(None) for _ in range(20)] == [second(None) for _ in range(20)]   # seeded
    actions = [first(None) for _ in range(3000)]
    assert np.allclose(np.bincount(actions, minlength=3) / 3000, 1 / 3, atol=0.03)


def test_held_out_paths_depend_only_on_their_seeds():
    env = make_market("sine")
    first, second = held_out_paths(env.prices, 50, [1, 2]), held_out_paths(env.prices, 50, [2])
    assert first.shape == (2, 51) and np.array_equal(first[1], second[0])


def test_plot_rollout_returns_a_figure_and_saves_png(tmp_path):
    env = make_market("inventory")
    result = rollout(env, random_policy(0), held_out_paths(env.prices, 30, [0])[0])
    target = tmp_path / "rollout.png"
    figure = plot_rollout(result, title="random", path=target)
    assert isinstance(figure, matplotlib.figure.Figure) and len(figure.axes) == 3
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
