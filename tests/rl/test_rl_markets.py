"""Market environments: Gymnasium API, the paper's rewards, inventory bookkeeping, seeding, errors."""
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from minidl.rl.markets import (Action, InventoryMarketEnv, MarketEnv, NormalPrices, SinePrices,
                               make_market)

MARKETS = ["normal", "sine", "sine_series", "inventory"]


@pytest.mark.parametrize("name", MARKETS)
def test_markets_pass_gymnasium_env_checker(name):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(infinity|spec).*")  # prices are unbounded
        check_env(make_market(name, episode_length=20))


def test_paper_rewards_by_hand():
    env = MarketEnv(NormalPrices(), reference_price=3.0, cost=1.0, hold_penalty=0.1)
    env.reset(options={"prices": [1.5, 4.5, 2.0, 0.0]})
    _, r_accumulate, *_ = env.step(Action.ACCUMULATE)   # (3 - 1.5) - 1
    _, r_distribute, *_ = env.step(Action.DISTRIBUTE)   # (4.5 - 3) - 1
    _, r_hold, terminated, truncated, _ = env.step(Action.HOLD)
    assert (r_accumulate, r_distribute, r_hold) == (0.5, 0.5, -0.1)
    assert (terminated, truncated) == (False, True)


def test_reference_price_defaults_to_stationary_mean_and_is_hidden():
    env = make_market("normal")
    assert env.reference_price == 3.0
    observation, _ = env.reset(seed=0)
    assert observation.shape == (1,) and observation.dtype == np.float32
    assert observation[0] == np.float32(env.price)


def test_episode_length_and_truncation():
    env = make_market("sine", episode_length=7)
    env.reset(seed=1)
    flags = [env.step(Action.HOLD)[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]
    with pytest.raises(ValueError, match="MarketEnv.step.*reset"):
        env.step(Action.HOLD)


def test_seeding_only_through_reset_and_fresh_observations():
    first, second = make_market("normal"), make_market("normal")
    a, _ = first.reset(seed=42)
    b, _ = second.reset(seed=42)
    assert np.array_equal(a, b)
    steps_a = [first.step(Action.HOLD)[0] for _ in range(10)]
    steps_b = [second.step(Action.HOLD)[0] for _ in range(10)]
    assert all(np.array_equal(x, y) for x, y in zip(steps_a, steps_b))
    c, _ = first.reset(seed=43)
    assert not np.array_equal(a, c)
    steps_a[0][0] = -99.0                       # observations are fresh arrays, not views of state
    assert first.price != -99.0 and steps_a[1][0] != -99.0


def test_normal_prices_statistics():
    prices = NormalPrices(3.0, 2.0).path(np.random.default_rng(0), 200_000)
    assert abs(prices.mean() - 3.0) < 0.02 and abs(prices.std() - 2.0) < 0.02


def test_sine_series_walks_consecutive_ticks_and_shuffle_draws_from_the_wave():
    series = SinePrices(period=200).path(np.random.default_rng(0), 400)
    ticks = np.arange(400)
    starts = [s for s in range(200) if np.allclose(series, 3 + 2 * np.sin(2 * np.pi * (s + ticks) / 200))]
    assert len(starts) == 1                     # one start tick explains the whole path
    shuffled = SinePrices(period=200, shuffle=True).path(np.random.default_rng(0), 4000)
    wave = 3 + 2 * np.sin(2 * np.pi * np.arange(200) / 200)
    assert np.all(np.min(np.abs(shuffled[:, None] - wave[None, :]), axis=1) < 1e-12)
    assert np.abs(np.corrcoef(shuffled[:-1], shuffled[1:])[0, 1]) < 0.05   # independent draws
    assert shuffled.min() >= 1.0 and shuffled.max() <= 5.0


def test_sine_noise_adds_gaussian_noise():
    clean = SinePrices(period=50, shuffle=True).path(np.random.default_rng(3), 100_000)
    noisy = SinePrices(period=50, shuffle=True, noise_sd=0.5).path(np.random.default_rng(3), 100_000)
    assert abs(np.var(noisy) - np.var(clean) - 0.25) < 0.02


def test_inventory_moves_position_and_marks_to_market():
    env = InventoryMarketEnv(NormalPrices(), capacity=2, cost=1.0, hold_penalty=0.1)
    path = [2.0, 3.0, 1.0, 4.0, 5.0]
    observation, _ = env.reset(options={"prices": path})
    assert observation.tolist() == [2.0, 0.0]
    rewards = []
    for action, expected_position in [(Action.ACCUMULATE, 1), (Action.ACCUMULATE, 2), (Action.HOLD, 2),
                                      (Action.DISTRIBUTE, 1)]:
        observation, reward, _, _, info = env.step(action)
        assert observation[1] == expected_position and env.position == expected_position
        assert info["invalid"] is False
        rewards.append(reward)
    # r_t = q_{t+1} (p_{t+1} - p_t) - cost on trades - hold_penalty otherwise
    assert rewards == [1 * (3 - 2) - 1.0, 2 * (1 - 3) - 1.0, 2 * (4 - 1) - 0.1, 1 * (5 - 4) - 1.0]
    # the marks telescope: the book's value change is what the held unit earns, sale price minus cost
    cash_and_book = -2.0 - 3.0 + 4.0 + 1 * 5.0 - 3 * 1.0 - 0.1
    assert np.isclose(sum(rewards), cash_and_book)


def test_invalid_inventory_action_is_a_penalised_hold():
    env = InventoryMarketEnv(NormalPrices(), capacity=1, invalid_penalty=0.7)
    env.reset(options={"prices": [3.0, 5.0, 4.0, 2.0]})
    _, reward, _, _, info = env.step(Action.DISTRIBUTE)          # nothing to sell
    assert info["invalid"] and env.position == 0 and np.isclose(reward, -0.1 - 0.7)
    env.step(Action.ACCUMULATE)                                   # position 1 = capacity
    _, reward, _, _, info = env.step(Action.ACCUMULATE)          # no room to buy
    assert info["invalid"] and env.position == 1 and np.isclose(reward, 1 * (2.0 - 4.0) - 0.1 - 0.7)


def test_inventory_reset_position_option():
    env = InventoryMarketEnv(NormalPrices(), capacity=3)
    observation, _ = env.reset(seed=0, options={"position": 2})
    assert observation[1] == 2.0
    with pytest.raises(ValueError, match=r"InventoryMarketEnv.reset.*0\.\.3.*5"):
        env.reset(options={"position": 5})
    with pytest.raises(ValueError, match="InventoryMarketEnv.reset.*options.*bogus"):
        env.reset(options={"bogus": 1})


@pytest.mark.parametrize("make, message", [
    (lambda: NormalPrices(sd=-1.0), r"NormalPrices: sd must be > 0, got -1"),
    (lambda: SinePrices(period=0), r"SinePrices: period must be an integer >= 1, got 0"),
    (lambda: SinePrices(noise_sd=-0.1), r"SinePrices: noise_sd must be >= 0, got -0.1"),
    (lambda: InventoryMarketEnv(NormalPrices(), capacity=0),
     r"InventoryMarketEnv: capacity must be an integer >= 1, got 0"),
    (lambda: MarketEnv(NormalPrices(), episode_length=0), r"MarketEnv: episode_length must be an integer >= 1, got 0"),
    (lambda: MarketEnv("normal"), r"MarketEnv.*price process.*'normal'"),
    (lambda: make_market("lunar"), r"make_market.*'lunar'"),
])
def test_invalid_parameters_raise_named_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("action", [3, -1, 1.5, "buy", True])
def test_unknown_actions_raise(action):
    env = make_market("inventory")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"InventoryMarketEnv.step: expected an action in 0..2.*got"):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = make_market("normal")
    env.reset(seed=0)
    assert env.step(np.int64(Action.HOLD))[1] == -0.1
    assert env.step(np.array(Action.HOLD))[1] == -0.1
