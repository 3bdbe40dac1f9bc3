"""The pipeline on a real series: nothing from the test period reaches training, the baselines and
the bound score as they must, the report's intervals are Student-t's, and quick runs stay quick."""
import json

import numpy as np
import pytest
from scipy import stats

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


def test_interval_is_student_t_over_seeds():
    values = [0.3, 0.1, 0.25, 0.4]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    mean, half = real_prices.interval(values)
    assert (mean - half, mean + half) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    mean, half = real_prices.interval([0.2])
    assert mean == 0.2 and np.isnan(half)


def fake_records(seed, learned, hold=-0.05, random=-0.3):
    """A trial's records with chosen returns per step, to check the report's arithmetic and verdicts."""
    rows = []
    for period in real_prices.PERIODS:
        for policy, value in {"q_learning": learned, "network": learned, "hold": hold, "random": random,
                              "hindsight": 1.0}.items():
            rows.append({"seed": seed, "policy": policy, "period": period, "steps": 10,
                         "return_per_step": value, "fraction_of_bound": value, "trades": 0.5})
    periods = [{"seed": seed, "period": name, "start": 0, "stop": 10, "steps": 10, "mean": 2.0 + i,
                "volatility": 0.01, "trend": 0.001 * i, "growth": 1.5, "above_fit_mean": 0.5 * i,
                "constant_m_bound_per_step": 0.4 + i, "observation_autocorrelation": 0.7,
                "first_time": f"t{i}", "last_time": f"u{i}"} for i, name in enumerate(real_prices.PERIODS)]
    epochs = [{"seed": seed, "stochasticity": 0.0, "batch_size": 8, "epoch": e, "sigma_max": 2.0,
               "sigma_min": 1.0, "condition_number": 2.0 + e, "train_mse": 0.1, "validation_mse": 0.2}
              for e in range(3)]
    return {"periods": periods, "epochs": epochs, "evaluation": rows,
            "choices": [{"seed": seed, "window": 10, "validation_return_per_step": 0.2, "chosen": True}]}


@pytest.mark.parametrize("learned, verdict", [
    ([0.30, 0.32, 0.31], "beats hold"), ([-0.20, -0.22, -0.21], "loses to hold"),
    ([0.5, -0.6, 0.1], "inconclusive")])
def test_report_verdicts_follow_the_paired_intervals(learned, verdict):
    settings = real_prices.settings("googl", stochasticity_rates=[0.0])
    text = real_prices.report(settings, [fake_records(s, value) for s, value in enumerate(learned)])
    line = next(row for row in text.splitlines() if row.startswith("| q_learning - hold"))
    mean, half = real_prices.interval(np.array(learned) + 0.05)
    assert line == f"| q_learning - hold | {real_prices._format(mean, half)} | {verdict} |"
    for section in ("## No exact MDP here", "## The periods", "## Choices on the validation period",
                    "## The test period", "## Why the constant m misleads on a trend",
                    "## The output layer of the Q network"):
        assert section in text
    assert "| 0 | 8 | 2.000 | 4.000 | 0.2 |" in text                  # conditioning from epoch 0 to 2
    quick = real_prices.report(dict(settings, quick=True), [fake_records(s, v) for s, v in enumerate(learned)])
    assert "Quick run" in quick and "none (quick run)" in quick and verdict not in quick


def test_settings_refuse_unknown_overrides():
    with pytest.raises(ValueError, match=r"overrides must be among .* got \['epoch'\]"):
        real_prices.settings("googl", epoch=3)
    assert real_prices.settings("eurusd", quick=True)["episodes"] == real_prices.QUICK["episodes"]


def test_run_on_a_bundled_series_writes_records_and_report(tmp_path):
    text = real_prices.run("googl", tmp_path / "run", seeds=2, quick=True, windows=[10], epochs=5,
                           episodes=40, stochasticity_rates=[0.0])
    saved = json.loads((tmp_path / "run" / "records.json").read_text())
    assert saved["settings"]["prices"] == "googl" and len(saved["trials"]) == 2
    assert (tmp_path / "run" / "report.md").read_text() == text
    for figure in ("conditioning.png", "test_period.png"):
        assert (tmp_path / "run" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| test | 2016-05-06 | 2018-08-29 | 584 |" in text
