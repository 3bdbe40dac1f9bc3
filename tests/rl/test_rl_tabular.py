"""Q-learning, value iteration and policy evaluation, checked against each other and against analytic facts.

Q-learning vs value iteration, on the (state, action) pairs updated at least 100 times, with R = max Q* -
min Q* the range of Q*: the largest |Q - Q*| must be below 5 % of R and the mean |Q - Q*| below 0.5 % of R
(a discount off by 0.1 moves Q* by 2-7 % of R on average); the greedy policies must agree on at least 95 %
of the states whose actions were all updated that often.
"""
import numpy as np
import pytest

from minidl.rl.discretize import Discretizer
from minidl.rl.markets import Action, make_market
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import (bellman_residual, greedy, policy_evaluation, q_learning, q_update,
                               value_iteration)

MIN_UPDATES = 100
MAX_ERROR, MEAN_ERROR = 0.05, 0.005   # fractions of the range of Q*


def _market(name, n_bins, **kwargs):
    env = make_market(name, episode_length=100, **kwargs)
    discretizer = Discretizer.for_env(env, n_bins)
    return env, discretizer, market_mdp(env, discretizer)


def test_q_update_is_a_bellman_backup():
    q = np.array([[1.0, 2.0], [3.0, 5.0]])
    error = q_update(q, 0, 1, reward=1.0, next_state=1, terminated=False, alpha=0.5, gamma=0.9)
    assert np.isclose(error, 1.0 + 0.9 * 5.0 - 2.0) and np.isclose(q[0, 1], 2.0 + 0.5 * error)
    error = q_update(q, 1, 0, reward=1.0, next_state=1, terminated=True, alpha=0.5, gamma=0.9)
    assert np.isclose(error, 1.0 - 3.0) and np.isclose(q[1, 0], 2.0)          # no bootstrap at terminal


@pytest.mark.parametrize("name, kwargs", [("normal", {}), ("sine", {}), ("inventory", {"capacity": 2})])
@pytest.mark.parametrize("gamma", [0.5, 0.95])
def test_value_iteration_solves_the_bellman_optimality_equation(name, kwargs, gamma):
    _, _, mdp = _market(name, 8, **kwargs)
    q, v = value_iteration(mdp, gamma)
    transitions = mdp.transitions()                  # dense, independent of expected_next_value
    assert np.max(np.abs(mdp.rewards + gamma * transitions @ q.max(axis=1) - q)) < 1e-8
    assert np.array_equal(v, q.max(axis=1))
    assert bellman_residual(mdp, q, gamma) < 1e-8


@pytest.mark.parametrize("name, kwargs", [("normal", {}), ("inventory", {"capacity": 2})])
def test_gamma_zero_gives_the_expected_immediate_reward(name, kwargs):
    _, _, mdp = _market(name, 8, **kwargs)
    q, _ = value_iteration(mdp, 0.0)
    assert np.array_equal(q, mdp.rewards)


def test_flat_market_value_is_known_in_closed_form():
    # next state is independent of the action, so Q* = r + gamma E[max r] / (1 - gamma)
    _, _, mdp = _market("normal", 10)
    gamma = 0.8
    q, _ = value_iteration(mdp, gamma)
    expected_best = mdp.price_probabilities @ mdp.rewards.max(axis=1)
    assert np.allclose(q, mdp.rewards + gamma * expected_best / (1 - gamma), atol=1e-9)
    assert np.array_equal(greedy(q), greedy(mdp.rewards))


def test_inventory_policy_changes_with_the_discount():
    # position 1, price bin 2 of 6 (prices [1, 3), conditional mean m ~ 2.08, stationary mean 3):
    # myopically, buying a second unit earns 2 (3 - m) - 1 ~ 0.84 > holding's 1 (3 - m) - 0.1 ~ 0.82;
    # with the future counted, filling up to capacity (no more cheap buys, a sale cost later) is worse.
    env, discretizer, mdp = _market("inventory", 6, capacity=2)
    state = 1 * 6 + 2
    assert discretizer.grid.edges[2] == 1.0 and discretizer.grid.edges[3] == 3.0
    myopic = greedy(value_iteration(mdp, 0.0)[0])
    farsighted = greedy(value_iteration(mdp, 0.9)[0])
    assert myopic[state] == Action.ACCUMULATE and farsighted[state] == Action.HOLD
    assert np.isclose(mdp.rewards[state, Action.ACCUMULATE], 2 * (3.0 - mdp.bin_means[2]) - 1.0)


def test_policy_evaluation_of_the_optimum_and_of_holding():
    _, _, mdp = _market("inventory", 6, capacity=2)
    gamma = 0.9
    q_star, v_star = value_iteration(mdp, gamma)
    q_pi, v_pi = policy_evaluation(mdp, greedy(q_star), gamma)
    assert np.allclose(v_pi, v_star, atol=1e-8) and np.allclose(q_pi, q_star, atol=1e-8)
    _, _, flat = _market("normal", 6)
    _, v_hold = policy_evaluation(flat, np.full(6, Action.HOLD), gamma)
    assert np.allclose(v_hold, -0.1 / (1 - gamma))
    with pytest.raises(ValueError, match=r"policy_evaluation: expected a policy of 6 actions in 0..2"):
        policy_evaluation(flat, np.full(6, 3), gamma)


@pytest.mark.parametrize("name, kwargs, n_bins, n_episodes", [
    ("normal", {}, 8, 300),
    ("sine", {}, 8, 300),
    ("inventory", {"capacity": 2}, 6, 1000),
])
def test_q_learning_converges_to_value_iteration(name, kwargs, n_bins, n_episodes):
    env, discretizer, mdp = _market(name, n_bins, **kwargs)
    gamma = 0.5
    q_star, _ = value_iteration(mdp, gamma)
    result = q_learning(env, discretizer, n_episodes, gamma, alpha=1.0, alpha_decay=0.8,
                        epsilon=1.0, epsilon_decay=0.995, epsilon_min=0.2, seed=0)
    visited = result.visits >= MIN_UPDATES
    assert visited.sum() >= 0.75 * visited.size
    errors = np.abs(result.q - q_star)[visited]
    assert errors.max() < MAX_ERROR * np.ptp(q_star) and errors.mean() < MEAN_ERROR * np.ptp(q_star)
    states = visited.all(axis=1)
    assert np.mean(greedy(result.q)[states] == greedy(q_star)[states]) >= 0.95
    assert result.returns.shape == (n_episodes,)


def test_q_learning_is_reproducible_from_its_seed():
    env, discretizer, _ = _market("normal", 6)
    first = q_learning(env, discretizer, 20, 0.5, seed=7)
    second = q_learning(env, discretizer, 20, 0.5, seed=7)
    third = q_learning(env, discretizer, 20, 0.5, seed=8)
    assert np.array_equal(first.q, second.q) and np.array_equal(first.visits, second.visits)
    assert not np.array_equal(first.q, third.q)


@pytest.mark.parametrize("call, message", [
    (lambda mdp, env, d: value_iteration(mdp, 1.0),
     r"value_iteration: gamma must be in \[0, 1\), got 1.0"),
    (lambda mdp, env, d: q_learning(env, d, 1, 0.5, alpha=0.0), r"q_learning: alpha must be in \(0, 1\], got 0.0"),
    (lambda mdp, env, d: q_learning(env, d, 1, 0.5, epsilon=2.0), r"q_learning: epsilon must be in \[0, 1\], got 2.0"),
])
def test_bad_solver_arguments_raise(call, message):
    env, discretizer, mdp = _market("normal", 4)
    with pytest.raises(ValueError, match=message):
        call(mdp, env, discretizer)
