"""The pipeline on a real series: nothing from the test period reaches training, the baselines and
the bound score as they must, and quick runs stay quick."""
import json

import numpy as np
import pytest

from minidl.rl import real_prices
from minidl.rl.series import PriceSeries, SeriesMarketEnv

SMALL = {"windows": [5, 10], "bins": 8, "episodes": 30, "episode_length": 20, "epochs": 5,
         "stochasticity_rates": [0.0, 0.5]}


def write_csv(path, prices):
    path.write_text("Date,Close\n" + "".join(f"d{i},{float(p)!r}\n" for i, p in enumerate(prices)))
    return f"{path}:Close"


def walk(n, seed=0):
    return 50.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(seed).standard_normal(n)))


def config(source, **changes):
    return real_prices.settings(source, **{**SMALL, **changes})


def learned_arrays(learned):
    arrays = {"q": learned.q, "scale": np.array(learned.signals.scale),
              "choices": np.array([score for score, _ in learned.choices])}
    for rate, fit in learned.fits.items():
        arrays.update({f"{rate}/{key}": value for key, value in fit.network.model.state_dict().items()})
    return arrays


@pytest.mark.parametrize("reference", ["trailing", "constant"])
def test_shuffling_or_replacing_the_test_period_changes_nothing_learned(reference):
    prices = walk(400)
    periods = PriceSeries(prices).split()
    shuffled, noise = prices.copy(), prices.copy()
    test = slice(periods.test.start, None)
    shuffled[test] = np.random.default_rng(1).permutation(prices[test])
    noise[test] = np.random.default_rng(2).uniform(1.0, 500.0, size=len(periods.test))
    settings = config("unused", reference=reference)
    original = learned_arrays(real_prices.learn(settings, prices, periods, seed=3))
    for changed in (shuffled, noise):
        again = learned_arrays(real_prices.learn(settings, changed, periods, seed=3))
        assert original.keys() == again.keys()
        for key in original:
            assert np.array_equal(original[key], again[key]), key          # bit-identical
    assert not np.array_equal(prices, noise)


def test_trial_records_before_the_test_period_ignore_it(tmp_path):
    prices = walk(400)
    changed = prices.copy()
    changed[300:] = np.random.default_rng(4).permutation(changed[300:])
    a = real_prices.trial(config(write_csv(tmp_path / "a.csv", prices)), seed=1)
    b = real_prices.trial(config(write_csv(tmp_path / "b.csv", changed)), seed=1)
    assert a["choices"] == b["choices"] and a["epochs"] == b["epochs"]
    before = lambda rows: [row for row in rows if row["period"] != "test"]            # noqa: E731
    assert before(a["evaluation"]) == before(b["evaluation"])
    assert before(a["periods"]) == before(b["periods"])
    assert json.loads(json.dumps(a)) == a                                               # JSON-able


def test_baselines_and_bound_score_as_they_must(tmp_path):
    records = real_prices.trial(config(write_csv(tmp_path / "p.csv", walk(500, seed=7))), seed=0)
    rows = records["evaluation"]
    assert {row["policy"] for row in rows} == set(real_prices.POLICIES)
    for period in real_prices.PERIODS:
        scores = {row["policy"]: row for row in rows if row["period"] == period}
        bound = scores["hindsight"]
        assert bound["fraction_of_bound"] == 1.0
        assert all(row["return_per_step"] <= bound["return_per_step"] for row in scores.values())
        assert scores["hold"]["return_per_step"] == pytest.approx(-0.05) and scores["hold"]["trades"] == 0.0
        for row in scores.values():
            assert row["fraction_of_bound"] == pytest.approx(row["return_per_step"] / bound["return_per_step"])
    assert sum(row["chosen"] for row in records["choices"]) == 1
    epochs = {(row["stochasticity"], row["epoch"]) for row in records["epochs"]}
    assert epochs == {(rate, epoch) for rate in (0.0, 0.5) for epoch in range(6)}


def test_vectorized_scores_equal_the_environments_rewards(tmp_path):
    prices = walk(400, seed=5)
    settings = config("unused")
    periods = PriceSeries(prices).split()
    learned = real_prices.learn(settings, prices, periods, seed=2)
    ticks = real_prices._ticks(periods.test, learned.signals.first)
    env = SeriesMarketEnv(learned.signals, range(ticks.start, ticks.stop + 1), episode_length=None)
    policy = lambda observation: int(real_prices.greedy(learned.q)[learned.discretizer(observation)])  # noqa
    observation, _ = env.reset(options={"start": ticks.start})
    rewards, done = [], False
    while not done:
        observation, reward, _, done, _ = env.step(policy(observation))
        rewards.append(reward)
    x = learned.signals.observations[ticks.start:ticks.stop, None].astype(np.float32)
    actions = real_prices.greedy(learned.q)[learned.discretizer(x)]
    per_step, total = real_prices._score(env.rewards[ticks.start:ticks.stop], actions)
    assert len(rewards) == len(ticks) and total == pytest.approx(sum(rewards), rel=1e-12)


def test_settings_refuse_unknown_overrides():
    with pytest.raises(ValueError, match=r"overrides must be among .* got \['epoch'\]"):
        real_prices.settings("googl", epoch=3)
    assert real_prices.settings("eurusd", quick=True)["episodes"] == real_prices.QUICK["episodes"]
