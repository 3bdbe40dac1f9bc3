"""Deep Q: the network regresses a known Q-table, the test set is never trained on, stochasticity sets the
batch size, fitted Q-iteration reaches value iteration's Q*, and every run repeats with its seed."""
import math

import numpy as np
import pytest

from data_tools.onenow import simulate_table
from minidl import backend, nn
from minidl.rl.deep_q import (QNetwork, fitted_q_iteration, output_layer, q_network, regress_q,
                              sample_transitions, stochasticity_batch_size)
from minidl.rl.discretize import Discretizer
from minidl.rl.markets import Action, make_market
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import value_iteration


def _parameters(model):
    return {key: backend.asnumpy(value).copy() for key, value in model.state_dict().items()}


def _same(first, second):
    return first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module")
def market():
    """The normal market on 20 bins: its MDP, Q* at gamma 0.9, a training and a held-out Q-table."""
    env = make_market("normal")
    discretizer = Discretizer.for_env(env, 20)
    mdp = market_mdp(env, discretizer)
    q_star, _ = value_iteration(mdp, 0.9)
    train = simulate_table(env, q_star, discretizer, 400, seed=1, environment="normal")
    test = simulate_table(env, q_star, discretizer, 1000, seed=2, environment="normal")
    return {"env": env, "mdp": mdp, "q_star": q_star, "data": (train.column("price"), train.q_values,
                                                               test.column("price"), test.q_values)}


def test_q_network_has_the_requested_shape_and_truncated_normal_init():
    model = q_network((1, 25, 2))
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]     # the paper's 1-25-2
    assert (model[0].weight.shape, model[2].weight.shape) == ((25, 1), (2, 25))
    for fan_in, layer in ((1, model[0]), (25, model[2])):
        for parameter in (layer.weight, layer.bias):
            values = backend.asnumpy(parameter.data)
            assert values.dtype == np.float32 and np.abs(values).max() <= 1 / math.sqrt(fan_in)
    wide = backend.asnumpy(q_network((64, 400, 3))[0].weight.data)
    # N(0, 1) cut at +-1/8 is nearly uniform there: sd close to (1/8)/sqrt(3), mean close to 0
    assert abs(wide.std() - 0.125 / math.sqrt(3)) < 0.002 and abs(wide.mean()) < 0.002
    dropped = q_network((2, 8, 8, 3), dropout=0.25)
    assert [type(m).__name__ for m in dropped] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout",
                                                   "Linear"]
    assert output_layer(dropped) == "6" and dropped[2].p == 0.25
    with pytest.raises(ValueError, match=r"q_network: sizes must hold at least an input and an output size"):
        q_network((3,))
    with pytest.raises(ValueError, match=r"q_network: dropout must be in \[0, 1\), got 1.0"):
        q_network((1, 4, 3), dropout=1.0)


def test_stochasticity_rates_give_the_documented_batch_sizes():
    assert [stochasticity_batch_size(rate, 1000) for rate in (0, 0.25, 0.5, 0.75, 1)] == [1000, 750, 500,
                                                                                         250, 1]
    assert [stochasticity_batch_size(rate, 10) for rate in (0.1, 0.25, 0.75, 0.95)] == [9, 8, 3, 1]
    with pytest.raises(ValueError, match=r"stochasticity_batch_size: rate must be in \[0, 1\], got 1.5"):
        stochasticity_batch_size(1.5, 10)
    with pytest.raises(ValueError, match=r"stochasticity_batch_size: n_samples must be an integer >= 1, got 0"):
        stochasticity_batch_size(0.5, 0)


def test_every_update_sees_exactly_one_batch_of_the_documented_size(monkeypatch):
    seen = []
    mse = nn.functional.mse_loss

    def recording(prediction, target):
        seen.append(prediction.shape[0])
        return mse(prediction, target)

    monkeypatch.setattr(nn.functional, "mse_loss", recording)
    X = np.linspace(0, 1, 10)
    Y = np.column_stack([X, -X])
    result = regress_q(X, Y, X, Y, hidden=(4,), stochasticity=0.75, epochs=2)
    assert result.batch_size == 3 and seen == [3, 3, 3] * 2     # floor(10 / 3) updates a pass, 1 row waits


def test_network_regresses_a_known_q_table_to_its_discretization_floor(market):
    result = regress_q(*market["data"], stochasticity=0.5, epochs=150, seed=0)
    mdp, q_star = market["mdp"], market["q_star"]
    # Q* is constant on each bin while the accumulate and distribute values move one for one with the
    # price: a smooth fit misses them by the within-bin variance width^2 / 12, in 2 of the 3 columns
    width = np.diff(mdp.discretizer.grid.edges)[0]
    floor = (2 / 3) * width ** 2 / 12
    history = result.history
    assert [row["epoch"] for row in history] == list(range(151))
    assert history[0]["test_mse"] > 100 * floor and history[-1]["test_mse"] < 1.5 * floor
    predicted = result.network.predict(mdp.bin_means)
    central = mdp.price_probabilities > 0.01
    assert np.abs(predicted - q_star)[central].max() < 0.3
    assert np.mean(predicted.argmax(axis=1) == q_star.argmax(axis=1)) >= 0.9
    policy = result.network.policy()
    assert policy(np.array([0.0], np.float32)) == Action.ACCUMULATE           # far below the mean price 3
    assert policy(np.array([6.0], np.float32)) == Action.DISTRIBUTE
    assert policy(np.array([3.0], np.float32)) == Action.HOLD


def test_scoring_the_test_set_changes_no_parameter(market):
    result = regress_q(*market["data"], dropout=0.25, epochs=3, seed=0)
    model = result.network.model
    model.train()
    model.zero_grad()
    before = _parameters(model)
    error = result.network.error(market["data"][2], market["data"][3])
    assert _same(before, _parameters(model)) and all(p.grad is None for p in model.parameters())
    assert model.training                                        # the mode it was in comes back
    model.eval()
    assert error == pytest.approx(result.history[-1]["test_mse"], rel=1e-6)   # scored in eval mode


def test_the_test_set_has_no_influence_on_training(market):
    X, Y, X_test, Y_test = market["data"]
    first = regress_q(X, Y, X_test, Y_test, stochasticity=0.5, dropout=0.1, epochs=5, seed=3)
    other = regress_q(X, Y, X_test[:7] + 50.0, -Y_test[:7], stochasticity=0.5, dropout=0.1, epochs=5, seed=3)
    assert _same(_parameters(first.network.model), _parameters(other.network.model))
    assert [r["train_mse"] for r in first.history[1:]] == [r["train_mse"] for r in other.history[1:]]
    assert first.history[-1]["test_mse"] != other.history[-1]["test_mse"]


def test_runs_repeat_with_their_seed_and_start_from_the_same_weights(market):
    X, Y, X_test, Y_test = market["data"]
    runs = [regress_q(X, Y, X_test, Y_test, stochasticity=rate, dropout=0.1, epochs=4, seed=seed)
            for rate, seed in ((0.5, 7), (0.5, 7), (0.5, 8), (0.0, 7))]
    assert _same(_parameters(runs[0].network.model), _parameters(runs[1].network.model))
    assert runs[0].history == runs[1].history
    assert not _same(_parameters(runs[0].network.model), _parameters(runs[2].network.model))
    start = [r.tracker.records(r.layer)[0]["spectrum"] for r in runs]
    assert np.array_equal(start[0], start[3]) and not np.array_equal(start[0], start[2])


def test_tracker_records_the_output_layer_and_the_test_error_every_epoch(market):
    result = regress_q(*market["data"], epochs=4, seed=0)
    records = result.tracker.records(result.layer)
    assert result.layer == "2" and result.tracker.layer_names() == ["0", "2"]
    assert [r["epoch"] for r in records] == [0, 1, 2, 3, 4]
    weight = backend.asnumpy(result.network.model[2].weight.data).astype(np.float64)
    sigma = np.linalg.svd(weight, compute_uv=False)
    last = records[-1]
    assert last["sigma_max"] == pytest.approx(sigma[0], rel=1e-5)
    assert last["sigma_min"] == pytest.approx(sigma[-1], rel=1e-5)
    assert last["condition_number"] == pytest.approx(sigma[0] / sigma[-1], rel=1e-5)
    errors = [r["test_mse"] for r in records]
    assert [r["test_gain"] for r in records[1:]] == pytest.approx(np.subtract(errors[:-1], errors[1:]))
    assert "test_gain" not in records[0] and "train_mse" not in records[0]


def test_q_network_standardizes_its_inputs():
    X = np.column_stack([np.arange(5.0), np.zeros(5)])
    network = QNetwork.fitted_to(q_network((2, 3, 3)), X)
    standardized = network.standardize(X)
    assert standardized.dtype == np.float32
    assert np.allclose(standardized[:, 0], (np.arange(5) - 2) / np.sqrt(2))
    assert np.all(standardized[:, 1] == 0)                                   # a constant feature: scale 1
    with pytest.raises(ValueError, match=r"QNetwork: expected observations with 2 features, "
                                         r"got shape \(4, 3\)"):
        network.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"regress_q: expected Q targets \(N, A\) matching the observations"):
        regress_q(np.zeros(4), np.zeros((3, 2)), np.zeros(2), np.zeros((2, 2)))


def test_sampled_transitions_follow_the_market():
    env = make_market("normal", episode_length=5)
    transitions = sample_transitions(env, 12, seed=0)
    assert len(transitions) == 12 and transitions.n_actions == 3
    assert transitions.observations.shape == transitions.next_observations.shape == (12, 1)
    prices = transitions.observations[:, 0].astype(np.float64)
    assert np.allclose(transitions.rewards, env.reward(prices, transitions.actions))
    # within an episode each next observation is the following observation; a reset comes every 5 steps
    within = [i for i in range(11) if (i + 1) % 5 != 0]
    following = [i + 1 for i in within]
    assert np.array_equal(transitions.next_observations[within], transitions.observations[following])
    again = sample_transitions(env, 12, seed=0)
    assert np.array_equal(again.actions, transitions.actions)
    assert np.array_equal(again.rewards, transitions.rewards)


def test_fitted_q_iteration_agrees_with_value_iteration():
    env = make_market("normal")
    discretizer = Discretizer.for_env(env, 12)
    mdp = market_mdp(env, discretizer)
    q_star, _ = value_iteration(mdp, 0.5)
    transitions = sample_transitions(env, 2000, seed=1)
    result = fitted_q_iteration(transitions, 0.5, 800, target_every=40, batch_size=256, seed=0)
    assert result.target_updates == 20 and result.losses.shape == (800,)
    q = result.network.predict(mdp.bin_means)
    # tolerance: 0.75 (under 7 % of the range of Q*, 11.3; the tail bins are rarely sampled) at worst,
    # 0.15 on average over the bins
    assert np.abs(q - q_star).max() < 0.75 and np.abs(q - q_star).mean() < 0.15
    assert np.mean(q.argmax(axis=1) == q_star.argmax(axis=1)) >= 0.95
    again = fitted_q_iteration(transitions, 0.5, 800, target_every=40, batch_size=256, seed=0)
    assert np.array_equal(again.losses, result.losses)


def test_fitted_q_iteration_checks_its_arguments():
    transitions = sample_transitions(make_market("sine"), 20, seed=0)
    with pytest.raises(ValueError, match=r"fitted_q_iteration: gamma must be in \[0, 1\), got 1.0"):
        fitted_q_iteration(transitions, 1.0, 10)
    with pytest.raises(ValueError, match=r"fitted_q_iteration: target_every must be an integer >= 1, got 0"):
        fitted_q_iteration(transitions, 0.5, 10, target_every=0)
    with pytest.raises(ValueError, match=r"fitted_q_iteration: batch_size must be an integer in \[1, 20\], got 21"):
        fitted_q_iteration(transitions, 0.5, 10, batch_size=21)



def test_reported_test_mse_is_the_mean_squared_error_of_predict(market):
    X, Y, X_test, Y_test = market["data"]
    result = regress_q(X, Y, X_test, Y_test, epochs=3, seed=0)
    mse = np.mean((result.network.predict(X_test) - Y_test) ** 2)
    assert result.history[-1]["test_mse"] == pytest.approx(mse, rel=1e-6)
