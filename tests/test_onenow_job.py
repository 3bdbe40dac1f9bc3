"""The main job, `minidl onenow --quick`, run in-process: every figure, CSV and summary.json, sane numbers,
every stochasticity rate with the same number of updates, and claims judged outside smoke runs."""
import csv
import json
import math

import numpy as np
import pytest

from minidl.experiments import cli, engine, onenow, stats

FIGURES = ["spectrum_{env}.png", "updates_{env}.png", "test_error_{env}.png", "dropout_{env}.png",
           "rollout_{env}.png"]
SHARED = ["q_curves.png", "markets.png", "evaluation.png", "epochs.csv", "fitted_q.csv", "q_curves.csv",
          "evaluation.csv", "stochasticity.csv", "output_layer.csv", "summary.json", "settings.json",
          "report.md", "README.md", "trials"]


TINY = ["--updates", "8", "--train-size", "40", "--test-size", "100", "--paths", "2", "--transitions", "200",
        "--fqi-iterations", "20", "--target-every", "5"]


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("onenow")
    assert cli.main(["onenow", "--quick", "--no-progress", "--out", str(out)]) == 0
    return out


def test_every_figure_csv_and_the_summary_are_written(job):
    expected = SHARED + [name.format(env=env) for env in onenow.ENVIRONMENTS for name in FIGURES]
    assert sorted(path.name for path in job.iterdir()) == sorted(expected)      # and no partial files
    for name in expected:
        if name.endswith(".png"):
            assert (job / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert (job / name).stat().st_size > 10_000


def test_every_rate_makes_the_same_number_of_updates(job):
    settings = json.loads((job / "summary.json").read_text())["settings"]
    budget = settings["updates"]
    rows = [row for row in _rows(job / "epochs.csv") if row["output_layer"] == "True" and row["dropout"] == "0.0"]
    for env in onenow.ENVIRONMENTS:
        finals = {}
        for rate in onenow.RATES:
            run = [row for row in rows if row["env"] == env and float(row["stochasticity"]) == rate
                   and row["seed"] == "0"]
            per_epoch = int(run[0]["updates_per_epoch"])
            assert per_epoch == {0.0: 1, 0.25: 1, 0.5: 2, 0.75: 4}[rate]            # N = 200 rows
            assert [int(row["epoch"]) for row in run] == list(range(budget // per_epoch + 1))
            finals[rate] = int(run[-1]["updates"])
        assert set(finals.values()) == {budget}                                     # the same budget
    table = _rows(job / "stochasticity.csv")
    assert {int(row["updates"]) for row in table} == {budget}
    assert [int(row["epochs"]) for row in table if row["env"] == "sine"] == [40, 40, 20, 10]


def test_an_update_budget_that_is_not_whole_epochs_is_refused(capsys, tmp_path):
    assert cli.main(["onenow", "--quick", "--updates", "30", "--out", str(tmp_path / "x")]) == 2
    assert "--updates must be a multiple of 4, the updates per epoch at stochasticity 0.75 on 200 normal rows" \
        in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_epoch_records_cover_every_run_epoch_and_layer(job):
    rows = _rows(job / "epochs.csv")
    settings = json.loads((job / "summary.json").read_text())["settings"]
    assert len(list((job / "trials").iterdir())) == len(onenow.ENVIRONMENTS) * (
        len(onenow.RATES) * settings["seeds"] + len(settings["dropout"]) + 1)
    epochs = {0.0: 40, 0.25: 40, 0.5: 20, 0.75: 10}
    runs = sum(epochs[rate] + 1 for rate in onenow.RATES) * settings["seeds"] + \
        len(settings["dropout"]) * (epochs[0.0] + 1)
    assert len(rows) == len(onenow.ENVIRONMENTS) * runs * 2                       # 2 Linear layers
    for row in rows:
        top, bottom, kappa = float(row["sigma_max"]), float(row["sigma_min"]), float(row["condition_number"])
        assert 0 < bottom <= top and kappa == pytest.approx(top / bottom, rel=1e-6)
        assert math.isfinite(float(row["test_mse"])) and float(row["test_mse"]) >= 0
        assert int(row["updates"]) == int(row["epoch"]) * int(row["updates_per_epoch"])
    output = [row for row in rows if row["output_layer"] == "True" and row["env"] == "normal"
              and row["stochasticity"] == "0.0" and row["dropout"] == "0.0" and row["seed"] == "0"]
    assert float(output[-1]["test_mse"]) < 0.05 * float(output[0]["test_mse"])     # it learned
    assert len(output[0]["spectrum"].split()) == 2                                  # the paper's 2 outputs


def test_the_centred_targets_have_rank_one(job):
    for row in _rows(job / "output_layer.csv"):
        first, second = (float(v) for v in row["target_singular_values"].split())
        assert row["outputs"] == "2" and first > 1 and second < 1e-9 * first


def test_summary_numbers_are_finite_and_in_range(job):
    summary = json.loads((job / "summary.json").read_text())
    assert summary["settings"]["quick"] and summary["trial_seconds"] > 0
    claims = summary["claims"]
    assert len(claims) == len(onenow.ENVIRONMENTS) * (3 + 2 * (len(onenow.RATES) - 1))
    assert {claim["verdict"] for claim in claims} == {stats.NOT_JUDGED}             # a smoke run
    for name in onenow.ENVIRONMENTS:
        env = summary["summary"]["environments"][name]
        assert sorted(env["stochasticity"]) == ["0", "0.25", "0.5", "0.75"]
        for run in list(env["stochasticity"].values()) + list(env["dropout"].values()):
            kappa = run["condition_number"]
            assert 1 <= kappa["min"] <= kappa["final"] <= kappa["max"] < 1e3
            assert 0 <= run["test_mse_final"] < run["test_mse_initial"]
        for run in env["stochasticity"].values():
            spread = run["over_seeds"]
            assert spread["seeds"] == summary["settings"]["seeds"] == 2
            assert spread["condition_number_min"] <= run["condition_number"]["min"]
            assert run["condition_number"]["max"] <= spread["condition_number_max"]
            assert spread["condition_number_final_sd"] >= 0 and spread["test_mse_final_mean"] >= 0
        sizes = [env["stochasticity"][rate]["batch_size"] for rate in ("0", "0.25", "0.5", "0.75")]
        assert sizes == [200, 150, 100, 50]
        assert env["fitted_q"]["policy_agreement"] >= 0.9 and 0.9 <= env["network_policy_agreement"] <= 1
        returns = {policy: score["mean"] for policy, score in env["evaluation"].items()}
        assert returns["hold"] == pytest.approx(-10.0)
        assert returns["optimal"] > returns["hold"] > returns["random"]
        assert returns["network"] > 0.9 * returns["optimal"]
        assert returns["fitted Q"] > 0.9 * returns["optimal"]
    evaluation = _rows(job / "evaluation.csv")
    assert len(evaluation) == len(onenow.ENVIRONMENTS) * len(onenow.POLICIES) * summary["settings"]["paths"]
    report = (job / "report.md").read_text()
    for text in ("## How this run differs from the paper", "equal numbers of updates", "rank 1",
                 "negligible within", "null control, the untrained output layer"):
        assert text in report


def test_three_outputs_on_one_market_without_dropout(tmp_path, capsys):
    cli.main(["onenow", "--quick", "--no-progress", "--env", "sine", "--outputs", "3", "--dropout", *TINY,
              "--out", str(tmp_path)])
    assert not (tmp_path / "dropout_sine.png").exists() and (tmp_path / "spectrum_sine.png").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["summary"]["environments"]) == ["sine"] and summary["settings"]["outputs"] == 3
    kappa = summary["summary"]["environments"]["sine"]["stochasticity"]["0"]["condition_number"]
    assert 1 <= kappa["min"] <= kappa["max"] < 1e3
    report = (tmp_path / "report.md").read_text()
    assert "Smoke run" in report and "| sine | 0.75 | 10 | 2 | 8 | 2 |" in report
    assert "The swept network is 1-25-3, not the paper's 1-25-2" in report
    assert capsys.readouterr().out.startswith("onenow: 9 claim(s), not judged (smoke run).")


@pytest.mark.parametrize("shift, spread, verdict", [
    (0.0, 0.01, stats.HOLDS),               # no effect, a narrow interval inside the margin
    (1.0, 0.01, stats.DOES_NOT_HOLD),       # an effect ten times the margin
    (0.0, 1.0, stats.INCONCLUSIVE),         # no effect detected, but the interval is wider than the margin
    (0.09, 0.05, stats.INCONCLUSIVE),       # the interval straddles the margin
])
def test_negligible_effects_are_judged_by_equivalence(shift, spread, verdict):
    noise = np.random.default_rng(0).standard_normal(10)
    baseline = 1.0 + np.linspace(0, 1, 10)
    claim = stats.equivalence("s is negligible", baseline + shift + spread * noise, baseline, margin=0.1)
    assert claim.verdict == verdict and claim.n == 10
    assert (claim.low, claim.high) == pytest.approx(stats.interval(shift + spread * noise)[2:])
    detected = "an effect detected" if claim.low > 0 or claim.high < 0 else "no effect detected"
    assert detected in claim.line() and "negligible within +-0.1" in claim.line()
    assert claim.as_dict()["margin"] == 0.1
    smoke = stats.equivalence("s", baseline + shift, baseline, margin=0.1, smoke=True)
    assert smoke.verdict == stats.NOT_JUDGED
    with pytest.raises(ValueError, match="margin must be a positive finite number"):
        stats.equivalence("s", baseline, baseline, margin=0.0)


def test_claims_are_judged_outside_smoke_runs():
    settings = engine.settings_of(onenow.EXPERIMENT, env="normal", seeds=3, updates=8, train_size=40,
                                  test_size=100, dropout=[], paths=2, transitions=200, fqi_iterations=20,
                                  target_every=5)
    trials = [engine.Trial(condition, seed, onenow.trial(settings, condition, seed))
              for condition, seed in onenow.plan(settings)]
    claims = onenow._claims(settings, "normal", onenow._study(settings, trials))
    verdicts = [claim.verdict for claim in claims]
    assert len(verdicts) == 9 and stats.NOT_JUDGED not in verdicts
    assert all(claim.control is not None and claim.control.n == 3 for claim in claims[:3])
    assert all(isinstance(claim, stats.Equivalence) and claim.n == 3 for claim in claims[3:])
    smoke = onenow._claims(dict(settings, quick=True), "normal", onenow._study(settings, trials))
    assert {claim.verdict for claim in smoke} == {stats.NOT_JUDGED}


def test_help_shows_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["onenow", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for setting in onenow.EXPERIMENT.all_settings():
        assert setting.flag in text
    assert "--updates UPDATES SGD updates of each regression, the same for every stochasticity rate" in text
