"""Tabular solvers: Q-learning from experience, value iteration and policy evaluation on a known MDP.

[Dworakowski 2019, section 4.3.2], eq. 6-8: Q maps (state, action) to the expected discounted return, V*(s) =
max_a Q*(s, a) and pi*(s) = argmax_a Q*(s, a). The original software assigned the immediate reward to
its table (docs/onenow.md); here Q-learning makes the real Bellman backup

    Q[s, a] += alpha_n (r + gamma max_a' Q[s', a'] - Q[s, a])     (the max term is 0 when s' is terminal)

and :func:`value_iteration` solves the exactly known MDP so the two can be compared.

An MDP here is any object with ``n_states``, ``n_actions``, ``rewards`` (S, A) expected immediate
rewards and ``expected_next_value(values (S,)) -> (S, A)``, the expectation of values at the next state
(minidl.rl.mdp.MarketMDP is one).
"""
from dataclasses import dataclass

import numpy as np

from minidl import checks


def greedy(q):
    """Greedy policy of a Q-table (S, A): (S,) int64 actions, ties to the lowest action index (eq. 8)."""
    return np.argmax(q, axis=1)


def bellman_residual(mdp, q, gamma):
    """max |r + gamma E[max_a' q(s', a')] - q| over all (s, a): 0 exactly at Q* (eq. 7)."""
    return float(np.max(np.abs(mdp.rewards + gamma * mdp.expected_next_value(q.max(axis=1)) - q)))


def value_iteration(mdp, gamma, tol=1e-10, max_iterations=1_000_000):
    """Q* and V* of ``mdp`` under discount ``gamma`` [Dworakowski 2019, eq. 7].

    Iterates Q <- r + gamma E[V(s')], V <- max_a Q until V changes by at most ``tol`` (sup norm); the
    returned Q then satisfies the Bellman optimality equation to gamma * tol.

    Returns (q (S, A), v (S,)), float64.

    Raises:
        TypeError: when ``gamma`` is not a real number.
        ValueError: when it lies outside [0, 1).
        RuntimeError: when it does not converge within ``max_iterations``.
    """
    gamma = checks.real(gamma, "gamma", "value_iteration", low=0, high=1, high_open=True)
    v = np.zeros(mdp.n_states)
    for _ in range(max_iterations):
        q = mdp.rewards + gamma * mdp.expected_next_value(v)
        v_next = q.max(axis=1)
        if np.max(np.abs(v_next - v)) <= tol:
            return q, v_next
        v = v_next
    raise RuntimeError(f"value_iteration: expected convergence to tol={tol} within {max_iterations} "
                       f"iterations at gamma={gamma}, got a last change of {np.max(np.abs(v_next - v))}")


def policy_evaluation(mdp, policy, gamma, tol=1e-10, max_iterations=1_000_000):
    """Q^pi and V^pi of the deterministic ``policy`` (S,) (an action per state) under discount ``gamma``.

    Iterates V <- r(s, pi(s)) + gamma E[V(s') | s, pi(s)] until V changes by at most ``tol``.
    Returns (q (S, A), v (S,)), float64, with q[s, a] the return of a in s followed by pi.

    Raises:
        TypeError: when ``gamma`` is not a real number.
        ValueError: for gamma outside [0, 1) or a policy of the wrong shape or actions.
        RuntimeError: when it does not converge within ``max_iterations``.
    """
    gamma = checks.real(gamma, "gamma", "policy_evaluation", low=0, high=1, high_open=True)
    policy = np.asarray(policy)
    if policy.shape != (mdp.n_states,) or policy.dtype.kind not in "iu" \
            or np.any((policy < 0) | (policy >= mdp.n_actions)):
        raise ValueError(f"policy_evaluation: expected a policy of {mdp.n_states} actions in "
                         f"0..{mdp.n_actions - 1}, got {policy!r}")
    states = np.arange(mdp.n_states)
    v = np.zeros(mdp.n_states)
    for _ in range(max_iterations):
        q = mdp.rewards + gamma * mdp.expected_next_value(v)
        v_next = q[states, policy]
        if np.max(np.abs(v_next - v)) <= tol:
            return q, v_next
        v = v_next
    raise RuntimeError(f"policy_evaluation: expected convergence to tol={tol} within {max_iterations} "
                       f"iterations at gamma={gamma}")


def q_update(q, state, action, reward, next_state, terminated, alpha, gamma):
    """One Bellman backup of ``q`` (S, A) in place; returns the temporal-difference error.

    target = reward + gamma max_a' q[next_state, a'], or just reward when the transition ``terminated``.
    """
    target = reward if terminated else reward + gamma * q[next_state].max()
    error = target - q[state, action]
    q[state, action] += alpha * error
    return error


@dataclass
class QLearningResult:
    """What :func:`q_learning` learned.

    Attributes: q (S, A) float64 Q-table; visits (S, A) int64 updates of each pair; returns
    (n_episodes,) float64 undiscounted return of each training episode.
    """
    q: np.ndarray
    visits: np.ndarray
    returns: np.ndarray


def q_learning(env, discretizer, n_episodes, gamma, alpha=0.5, alpha_decay=0.0, epsilon=1.0,
               epsilon_decay=0.99, epsilon_min=0.05, seed=None):
    """Learn a Q-table by epsilon-greedy Q-learning on the Gymnasium environment ``env``.

    Args:
        env: a Gymnasium env with a Discrete action space (a market from minidl.rl.markets).
        discretizer: maps an observation to a state index in 0..discretizer.n_states - 1.
        n_episodes: episodes to play.
        gamma: discount in [0, 1).
        alpha, alpha_decay: the n-th update of a pair (s, a) uses the learning rate
            alpha / n**alpha_decay (0: constant; in (0.5, 1] the Robbins-Monro conditions hold).
        epsilon, epsilon_decay, epsilon_min: in episode e a random action is taken with probability
            max(epsilon_min, epsilon * epsilon_decay**e), else the greedy one (ties to the lowest index).
        seed: seeds the exploration generator, which seeds the environment's first reset.

    Truncated episodes (time limits) bootstrap from the last state; terminated ones do not.
    Returns a QLearningResult.

    Raises:
        TypeError: for a non-integer n_episodes or non-real rates.
        ValueError: for gamma outside [0, 1), alpha outside (0, 1], a negative alpha_decay, epsilons
            outside [0, 1], NaN or infinity.
    """
    gamma = checks.real(gamma, "gamma", "q_learning", low=0, high=1, high_open=True)
    alpha = checks.real(alpha, "alpha", "q_learning", low=0, high=1, low_open=True)
    alpha_decay = checks.real(alpha_decay, "alpha_decay", "q_learning", low=0)
    epsilon, epsilon_decay, epsilon_min = (checks.real(value, name, "q_learning", low=0, high=1) for name, value in
                                           (("epsilon", epsilon), ("epsilon_decay", epsilon_decay),
                                            ("epsilon_min", epsilon_min)))
    n_episodes = checks.integer(n_episodes, "n_episodes", "q_learning", low=0)
    rng = np.random.default_rng(seed)
    n_actions = env.action_space.n
    q = np.zeros((discretizer.n_states, n_actions))
    visits = np.zeros((discretizer.n_states, n_actions), dtype=np.int64)
    returns = np.zeros(n_episodes)
    observation, _ = env.reset(seed=int(rng.integers(2**32)))
    for episode in range(n_episodes):
        if episode > 0:
            observation, _ = env.reset()
        explore = max(epsilon_min, epsilon * epsilon_decay ** episode)
        state = int(discretizer(observation))
        done = False
        while not done:
            action = int(rng.integers(n_actions)) if rng.random() < explore else int(np.argmax(q[state]))
            observation, reward, terminated, truncated, _ = env.step(action)
            next_state = int(discretizer(observation))
            visits[state, action] += 1
            q_update(q, state, action, reward, next_state, terminated,
                     alpha / visits[state, action] ** alpha_decay, gamma)
            returns[episode] += reward
            state, done = next_state, terminated or truncated
    return QLearningResult(q=q, visits=visits, returns=returns)
