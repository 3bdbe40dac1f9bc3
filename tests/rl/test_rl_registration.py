"""The markets as Gymnasium IDs: gymnasium.make, check_env, and wrappers that change nothing."""
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import minidl.rl  # noqa: F401  (registers the IDs)
from minidl.rl.markets import DEFAULT_EPISODE_LENGTH, NormalPrices, SinePrices, make_market
from minidl.rl.registration import MARKETS, register_markets
from minidl.rl.series import make_series_market

BARE = {"minidl/OneNowNormal-v0": lambda: make_market("normal"),
        "minidl/OneNowSine-v0": lambda: make_market("sine"),
        "minidl/OneNowInventory-v0": lambda: make_market("inventory"),
        "minidl/OneNowPrices-v0": lambda: make_series_market("googl")}
KWARGS = {"minidl/OneNowPrices-v0": {"series": "googl"}}


def test_every_registered_id_has_a_bare_counterpart():
    assert set(MARKETS) == set(BARE)


@pytest.mark.parametrize("env_id", sorted(BARE))
def test_made_markets_pass_check_env_with_the_episode_as_time_limit(env_id):
    env = gymnasium.make(env_id, **KWARGS.get(env_id, {}))
    assert env.spec.max_episode_steps == DEFAULT_EPISODE_LENGTH == env.unwrapped.episode_length
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(infinity|unwrapped).*")  # unbounded prices, wrappers
        check_env(env)


@pytest.mark.parametrize("env_id", sorted(BARE))
def test_wrappers_change_nothing_the_environment_does(env_id):
    made, bare = gymnasium.make(env_id, **KWARGS.get(env_id, {})), BARE[env_id]()
    actions = np.random.default_rng(5).integers(3, size=DEFAULT_EPISODE_LENGTH)
    for seed in (0, 11):
        first_made, _ = made.reset(seed=seed)
        first_bare, _ = bare.reset(seed=seed)
        assert np.array_equal(first_made, first_bare)
        for step, action in enumerate(actions):
            a, b = made.step(int(action)), bare.step(int(action))
            assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4], (env_id, seed, step)
        assert a[3] is True                                    # both truncate at the last step


def test_episode_length_and_time_limit_move_together():
    env = gymnasium.make("minidl/OneNowNormal-v0", max_episode_steps=7, episode_length=7)
    env.reset(seed=0)
    assert [env.step(2)[3] for _ in range(7)] == [False] * 6 + [True]


def test_registration_is_idempotent_and_keeps_the_specs():
    before = {env_id: gymnasium.spec(env_id) for env_id in MARKETS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # no "Overriding environment" warning
        register_markets()
    assert all(gymnasium.spec(env_id) is spec for env_id, spec in before.items())


def test_module_prefixed_id_works_after_a_plain_gymnasium_import():
    code = ("import gymnasium, sys; env = gymnasium.make('minidl.rl:minidl/OneNowSine-v0'); "
            "print(env.reset(seed=3)[0][0], 'minidl.rl' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    price, imported = result.stdout.split()
    assert 1.0 <= float(price) <= 5.0 and imported == "True"


def test_sine_market_has_finite_observation_bounds():
    space = make_market("sine").observation_space
    assert (space.low[0], space.high[0]) == (1.0, 5.0)
    env = make_market("sine_series", episode_length=500)
    observation, _ = env.reset(seed=2)
    seen = [observation] + [env.step(2)[0] for _ in range(500)]
    assert all(env.observation_space.contains(o) for o in seen)
    assert SinePrices(noise_sd=0.1).support() == (-np.inf, np.inf)
    assert NormalPrices().support() == (-np.inf, np.inf)
    inventory = make_market("inventory").observation_space
    assert np.isinf(inventory.low[0]) and inventory.high[1] == 3.0
