"""The main job, `minidl onenow --quick`, run in-process: every figure, CSV and summary.json, sane numbers."""
import csv
import json
import math

import pytest

from minidl.experiments import cli, onenow

FIGURES = ["spectrum_{env}.png", "test_error_{env}.png", "dropout_{env}.png", "rollout_{env}.png"]
SHARED = ["q_curves.png", "markets.png", "evaluation.png", "epochs.csv", "fitted_q.csv", "q_curves.csv",
          "evaluation.csv", "stochasticity.csv", "summary.json", "settings.json", "report.md", "README.md",
          "trials"]


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


def test_epoch_records_cover_every_run_epoch_and_layer(job):
    rows = _rows(job / "epochs.csv")
    settings = json.loads((job / "summary.json").read_text())["settings"]
    assert len(list((job / "trials").iterdir())) == len(onenow.ENVIRONMENTS) * (
        len(onenow.RATES) * settings["seeds"] + len(settings["dropout"]) + 1)
    runs = len(onenow.RATES) * settings["seeds"] + len(settings["dropout"])
    assert len(rows) == len(onenow.ENVIRONMENTS) * runs * (settings["epochs"] + 1) * 2      # 2 Linear layers
    for row in rows:
        top, bottom, kappa = float(row["sigma_max"]), float(row["sigma_min"]), float(row["condition_number"])
        assert 0 < bottom <= top and kappa == pytest.approx(top / bottom, rel=1e-6)
        assert math.isfinite(float(row["test_mse"])) and float(row["test_mse"]) >= 0
    output = [row for row in rows if row["output_layer"] == "True" and row["env"] == "normal"
              and row["stochasticity"] == "0.0" and row["dropout"] == "0.0" and row["seed"] == "0"]
    assert [int(row["epoch"]) for row in output] == list(range(settings["epochs"] + 1))
    assert float(output[-1]["test_mse"]) < 0.05 * float(output[0]["test_mse"])     # it learned


def test_summary_numbers_are_finite_and_in_range(job):
    summary = json.loads((job / "summary.json").read_text())
    assert summary["settings"]["quick"] and summary["trial_seconds"] > 0 and summary["claims"] == []
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


def test_paper_shape_on_one_market_without_dropout(tmp_path, capsys):
    cli.main(["onenow", "--quick", "--no-progress", "--env", "sine", "--outputs", "2", "--dropout",
              "--out", str(tmp_path)])
    assert not (tmp_path / "dropout_sine.png").exists() and (tmp_path / "spectrum_sine.png").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["summary"]["environments"]) == ["sine"] and summary["settings"]["outputs"] == 2
    kappa = summary["summary"]["environments"]["sine"]["stochasticity"]["0"]["condition_number"]
    assert 1 <= kappa["min"] <= kappa["max"] < 1e3
    report = (tmp_path / "report.md").read_text()
    assert "Smoke run" in report and "| sine | 0.75 | 50 | 2 |" in report
    assert capsys.readouterr().out.startswith("onenow: wrote ")
