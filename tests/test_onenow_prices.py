"""`minidl onenow --prices SERIES`: the real-series pipeline through the engine, on both bundled series
and a CSV path:column; stored trials, resumable, the report built from them; bad series refused."""
import csv
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from minidl.experiments import cli, engine, onenow, onenow_prices, stats
from minidl.experiments.output import RunFolder
from minidl.rl import real_prices

SMALL = ["--quick", "--no-progress", "--seeds", "2", "--windows", "10", "--episodes", "30", "--epochs", "5",
         "--episode-length", "20"]
FILES = ["settings.json", "trials", "summary.json", "report.md", "README.md", "periods.csv", "scores.csv",
         "choices.csv", "conditioning.csv", "evaluation.csv", "epochs.csv", "conditioning.png", "test_period.png"]


def _run(tmp_path, source, *flags):
    out = tmp_path / "run"
    assert cli.main(["onenow", "--prices", source, *SMALL, *flags, "--out", str(out)]) == 0
    return out


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("series, test_row", [
    ("googl", "| test | 2016-05-06 | 2018-08-29 | 584 |"),
    ("eurusd", "| test | 29.09.2017 10:00:00.000 | 29.12.2017 21:00:00.000 | 1556 |"),
])
def test_a_bundled_series_runs_through_the_engine(tmp_path, capsys, series, test_row):
    out = _run(tmp_path, series)
    assert sorted(path.name for path in out.iterdir()) == sorted(FILES)
    assert sorted(path.name for path in (out / "trials").iterdir()) == \
        [f"part=series,prices={series},data={onenow_prices.digest(series)},seed={seed}.json" for seed in (0, 1)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke_run"] and len(summary["claims"]) == 4
    assert {claim["verdict"] for claim in summary["claims"]} == {stats.NOT_JUDGED}
    report = (out / "report.md").read_text()
    assert report.startswith(f"# OneNow on real prices: {series}") and "Smoke run" in report
    assert test_row in report
    for text in ("No MDP describes this market exactly", "The test period's mean price is",
                 "The paper's constant m", "## The policies on the test period"):
        assert text in report
    scores = {row["policy"]: row for row in _rows(out / "scores.csv")}
    assert set(scores) == set(real_prices.POLICIES) and float(scores["hindsight"]["fraction_of_bound"]) == 1.0
    assert float(scores["hold"]["return_per_step"]) == pytest.approx(-0.05)
    for png in ("conditioning.png", "test_period.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.startswith("onenow: 4 claim(s), not judged (smoke run).")


def test_a_csv_column_runs_and_resumes(tmp_path):
    prices = 50.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(0).standard_normal(500)))
    path = tmp_path / "walk.csv"
    path.write_text("Day,Close\n" + "".join(f"d{i},{float(p)!r}\n" for i, p in enumerate(prices)))
    out = _run(tmp_path, f"{path}:Close", "--seeds", "3")
    trials = sorted((out / "trials").iterdir())
    assert len(trials) == 3
    report = (out / "report.md").read_text()
    kept = {trial.name: trial.stat().st_mtime_ns for trial in trials[:-1]}
    lost = json.loads(trials[-1].read_text())
    trials[-1].unlink()                                          # an interrupted run: one trial missing
    _run(tmp_path, f"{path}:Close", "--seeds", "3")
    assert (out / "report.md").read_text() == report             # the same report
    assert {name: (out / "trials" / name).stat().st_mtime_ns for name in kept} == kept    # not recomputed
    assert json.loads(trials[-1].read_text())["records"] == lost["records"]                # the same bits
    assert "| test | d375 | d499 | 125 |" in report
    settings = json.loads((out / "settings.json").read_text())["settings"]
    trials = engine.stored_trials(onenow.EXPERIMENT, settings, RunFolder(out))
    figure = next(f.figure for f in onenow_prices.finish(settings, trials).figures if f.name == "test_period.png")
    assert [ax.get_title() for ax in figure.axes] == [""]          # one title: the figure's, not the axes' too
    assert figure.get_suptitle().endswith("return per step of every policy on every period, 95 % t interval")


def test_a_csv_changed_since_its_trials_were_stored_runs_anew(tmp_path):
    path = tmp_path / "walk.csv"
    for seed, rows in ((0, 400), (1, 500)):              # the same flags, the file replaced in between
        prices = 50.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(seed).standard_normal(rows)))
        path.write_text("Day,Close\n" + "".join(f"d{i},{float(p)!r}\n" for i, p in enumerate(prices)))
        out = _run(tmp_path, f"{path}:Close", "--seeds", "1")
        assert f"| test | d{rows - rows // 4} | d{rows - 1} | {rows // 4} |" in (out / "report.md").read_text()
    assert onenow_prices.digest(f"{path}:Close") != onenow_prices.digest("googl")


def test_claims_are_judged_on_the_stored_returns():
    records = []
    for seed, (learned, random) in enumerate([(0.30, -0.3), (0.32, -0.2), (0.31, -0.4)]):
        rows = [{"seed": seed, "policy": policy, "period": "test", "return_per_step": value}
                for policy, value in {"q_learning": learned, "network": -0.2 - 0.01 * seed, "hold": -0.05,
                                      "random": random}.items()]
        records += rows
    settings = {"prices": "x.csv:Close", "quick": False}
    claims = {claim.effect: claim for claim in onenow_prices._claims(settings, records)}
    assert claims["return per step, q_learning - hold"].verdict == stats.HOLDS
    assert claims["return per step, network - hold"].verdict == stats.DOES_NOT_HOLD
    assert claims["return per step, q_learning - random"].verdict == stats.HOLDS
    assert claims["return per step, network - random"].n == 3
    smoke = onenow_prices._claims(dict(settings, quick=True), records)
    assert {claim.verdict for claim in smoke} == {stats.NOT_JUDGED}


def test_the_tables_are_means_over_seeds_with_student_t_intervals():
    returns = {"q_learning": [0.3, 0.1, 0.25, 0.4], "hold": [-0.05] * 4}
    evaluation = [{"seed": seed, "policy": policy, "period": period, "return_per_step": value,
                   "fraction_of_bound": value / 0.5, "trades": 0.25 * seed}
                  for policy in real_prices.POLICIES for seed, value in enumerate(returns.get(policy, [0.0] * 4))
                  for period in ("validation", "test")]
    evaluation += [dict(row, period="fit", return_per_step=9.0) for row in evaluation[:4]]     # not the test
    scores = {row["policy"]: row for row in onenow_prices._scores(evaluation)}
    values = returns["q_learning"]
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    q = scores["q_learning"]
    assert q["return_per_step"] == pytest.approx(0.2625, rel=1e-12) and q["trades"] == pytest.approx(0.375)
    assert (q["return_low"], q["return_high"]) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert (q["fraction_low"], q["fraction_high"]) == (pytest.approx(2 * low), pytest.approx(2 * high))
    assert scores["hold"]["return_low"] == scores["hold"]["return_high"] == pytest.approx(-0.05)   # no spread
    one = onenow_prices._scores([row for row in evaluation if row["seed"] == 0])
    assert all(np.isnan(row["return_low"]) for row in one)                          # one seed: undefined

    epochs = [{"seed": seed, "stochasticity": rate, "batch_size": 8, "epoch": epoch,
               "condition_number": 2.0 + epoch + seed, "validation_mse": 0.1 * (epoch + 1)}
              for rate in (0.0, 0.5) for seed in (0, 1) for epoch in range(3)]
    assert onenow_prices._conditioning(epochs)[1] == pytest.approx(
        {"stochasticity": 0.5, "batch_size": 8, "epochs": 2, "kappa_initial": 2.5, "kappa_final": 4.5,
         "validation_mse": 0.3})


@pytest.mark.parametrize("source, message", [
    ("{path}:Open", "--prices {path}:Open: "),
    ("nothing", "--prices nothing: PriceSeries.load: source must be one of"),
    ("{missing}:Close", "--prices {missing}:Close: "),
])
def test_a_bad_series_is_refused_before_any_work(tmp_path, capsys, source, message):
    path, missing = tmp_path / "p.csv", tmp_path / "missing.csv"
    path.write_text("Day,Close\n" + "".join(f"d{i},{10 + i}\n" for i in range(300)))
    source, message = source.format(path=path, missing=missing), message.format(path=path, missing=missing)
    assert cli.main(["onenow", "--prices", source, "--quick", "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prices, flags, message", [
    ("{walk}", ["--windows", "10", "250"], "market_signals: the fit period must hold at least window + 10"),
    ("{walk}", ["--windows", "1"], "market_signals: window must be an integer >= 2, got 1"),
    ("{flat}", [], "market_signals: the fit period's prices must deviate from their trailing mean"),
    ("{flat}", ["--reference", "constant"], "market_signals: the fit period's prices must vary"),
    ("{walk}", ["--windows", "10", "--episode-length", "500"],
     "SeriesMarketEnv: episode_length must be an integer in [1, 169], got 500"),
])
def test_a_series_without_signals_for_a_window_is_refused_before_any_work(tmp_path, capsys, prices, flags,
                                                                         message):
    walk, flat = tmp_path / "walk.csv", tmp_path / "flat.csv"
    walk.write_text("Day,Close\n" + "".join(f"d{i},{10 + i % 7}\n" for i in range(300)))
    flat.write_text("Day,Close\n" + "".join(f"d{i},5\n" for i in range(300)))
    source = prices.format(walk=walk, flat=flat) + ":Close"
    assert cli.main(["onenow", "--prices", source, "--quick", *flags, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minidl onenow: --prices {source}: {message}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, message", [
    (["--prices", "googl", "--env", "sine"], "--env only sets the simulated markets, which --prices replaces; "
                                             "drop it"),
    (["--prices", "googl", "--updates", "8", "--dropout"], "--updates, --dropout only set the simulated markets"),
    (["--windows", "5"], "--windows only sets a run on a real series; drop it or give --prices"),
    (["--cost", "1", "--epochs", "3"], "--cost, --epochs only set a run on a real series"),
])
def test_a_flag_the_run_would_ignore_is_refused(tmp_path, capsys, flags, message):
    assert cli.main(["onenow", "--quick", *flags, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minidl onenow: {message}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_command_flags_reach_the_pipeline():
    from minidl.experiments import engine
    settings = engine.settings_of(onenow.EXPERIMENT, prices="googl", reference="constant", windows=[5],
                                  bins=7, episodes=12, epochs=3, gap=4)
    config = onenow_prices.config(settings)
    assert (config["reference"], config["windows"], config["bins"], config["episodes"], config["epochs"],
            config["gap"]) == ("constant", [5], 7, 12, 3, 4)
    assert config["stochasticity_rates"] == real_prices.SETTINGS["stochasticity_rates"] and not config["quick"]
    quick = onenow_prices.config(engine.settings_of(onenow.EXPERIMENT, prices="eurusd", quick=True))
    assert quick["bins"] == real_prices.SETTINGS["bins"] and quick["episodes"] == real_prices.QUICK["episodes"]
    assert quick["stochasticity_rates"] == real_prices.QUICK["stochasticity_rates"]
    assert onenow.plan(settings) == [({"part": "series", "prices": "googl", "data": onenow_prices.digest("googl")},
                                      seed) for seed in range(10)]
