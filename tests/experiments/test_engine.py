"""The engine: settings resolved in one place, every trial stored at once, a killed sweep resumes without
recomputing a finished trial and ends with the same report, a folder of another run is refused, and Ray
workers give the serial run's bits."""
import argparse
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import engine_toy
from minidl.experiments import engine, stats

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TESTS)


def _args(*argv):
    parser = argparse.ArgumentParser()
    engine.add_arguments(parser, engine_toy.EXPERIMENT)
    return parser.parse_args(list(argv))


def test_an_explicit_flag_beats_the_quick_preset():
    assert engine.resolve(engine_toy.EXPERIMENT, _args())["points"] == 50
    quick = engine.resolve(engine_toy.EXPERIMENT, _args("--quick"))
    assert (quick["points"], quick["seeds"], quick["quick"]) == (20, 2, True)
    assert engine.resolve(engine_toy.EXPERIMENT, _args("--quick", "--points", "7"))["points"] == 7


@pytest.mark.parametrize("argv, message", [
    (["--points", "0"], "--points must be positive, got 0"),
    (["--seeds", "0"], "--seeds must be positive, got 0"),
    (["--noise", "nan"], "--noise must be a finite number, got nan"),
    (["--noise", "-1"], "--noise must be 0 or more, got -1.0")])
def test_bad_settings_are_refused_before_any_file(argv, message):
    with pytest.raises(engine.UsageError) as error:
        engine.resolve(engine_toy.EXPERIMENT, _args(*argv))
    assert str(error.value) == message


def test_a_run_writes_every_file_from_the_stored_trials(tmp_path):
    settings = engine.settings_of(engine_toy.EXPERIMENT, seeds=4)
    summary = engine.run(engine_toy.EXPERIMENT, settings, tmp_path, progress=False)
    names = sorted(os.listdir(tmp_path))
    assert names == ["README.md", "fits.csv", "fits.png", "report.md", "settings.json", "summary.json",
                     "trials"]
    assert len(os.listdir(tmp_path / "trials")) == 8
    assert summary["claims"][0].verdict == stats.HOLDS and summary["claims"][0].n == 4
    stored = json.loads((tmp_path / "summary.json").read_text())
    assert stored["claims"][0]["verdict"] == "holds" and stored["settings"] == settings
    report = (tmp_path / "report.md").read_text()
    assert "n = 4" in report and "95 % CI" in report and "Smoke run" not in report
    assert "## How this run differs from the paper" in report and "(mean over 4 seeds)" in report
    readme = (tmp_path / "README.md").read_text()
    for name in ("fits.csv", "fits.png", "summary.json", "report.md", "settings.json", "`fit`", "`seed`"):
        assert name in readme


def test_a_quick_run_is_a_smoke_run_without_verdicts(tmp_path):
    settings = engine.settings_of(engine_toy.EXPERIMENT, quick=True)
    summary = engine.run(engine_toy.EXPERIMENT, settings, tmp_path, progress=False)
    assert summary["claims"][0].verdict == stats.NOT_JUDGED
    report = (tmp_path / "report.md").read_text()
    assert report.splitlines()[2].startswith("> **Smoke run**")
    assert "**holds**" not in report and "**does not hold**" not in report


def test_a_folder_of_another_run_is_refused_and_left_unchanged(tmp_path):
    engine.run(engine_toy.EXPERIMENT, engine.settings_of(engine_toy.EXPERIMENT, quick=True), tmp_path,
               progress=False)
    before = {name: (tmp_path / name).read_bytes() for name in ("settings.json", "report.md")}
    other = engine.settings_of(engine_toy.EXPERIMENT, quick=True, points=30)
    with pytest.raises(engine.UsageError, match="other settings .*points: 20 there, 30 here"):
        engine.run(engine_toy.EXPERIMENT, other, tmp_path, progress=False)
    assert before == {name: (tmp_path / name).read_bytes() for name in before}
    (tmp_path.parent / "stray").mkdir(exist_ok=True)
    (tmp_path.parent / "stray" / "notes.txt").write_text("mine")
    with pytest.raises(engine.UsageError, match="holds files but no settings.json"):
        engine.run(engine_toy.EXPERIMENT, other, tmp_path.parent / "stray", progress=False)


@pytest.mark.parametrize("changes, message", [
    ({"pointz": 30}, "settings_of: toy has no settings ['pointz']"),  # was ignored: 50 points ran
    ({"points": 20.5}, "--points must be of type int, got 20.5 (float)"),
    ({"points": "20"}, "--points must be of type int, got '20' (str)"),
    ({"points": True}, "--points must be of type int, got True (bool)"),
    ({"points": np.int64(20)}, "--points must be of type int, got np.int64(20) (int64)"),
    ({"seeds": None}, "--seeds must be of type int, got None (NoneType)"),
    ({"points": [20]}, "--points must be a single value, got [20]"),
])
def test_settings_given_in_code_are_checked_as_flags_are(changes, message):
    with pytest.raises(engine.UsageError, match="^" + re.escape(message)):
        engine.settings_of(engine_toy.EXPERIMENT, quick=True, **changes)


def test_settings_given_in_code_take_their_canonical_types():
    settings = engine.settings_of(engine_toy.EXPERIMENT, noise=1)
    assert settings["noise"] == 1.0 and type(settings["noise"]) is float


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.parent


@pytest.mark.parametrize("make, message", [
    (lambda out: _write(out, "a file"), "is a file, not a folder"),
    (lambda out: _write(out / "settings.json", "{damaged"), "settings.json is not a JSON file of a minidl run"),
    (lambda out: _write(out / "settings.json", "[1, 2]"), "settings.json is not a file of a minidl run"),
    (lambda out: _write(out / "settings.json", "\xff"), "settings.json is not a JSON file of a minidl run"),
])
def test_an_out_that_is_a_file_or_holds_a_damaged_settings_file_is_a_usage_error(tmp_path, make, message):
    out = tmp_path / "run"
    make(out)
    with pytest.raises(engine.UsageError, match=message):
        engine.run(engine_toy.EXPERIMENT, engine.settings_of(engine_toy.EXPERIMENT, quick=True), out,
                   progress=False)


@pytest.mark.parametrize("text", ["", "{}", "[]"])
def test_a_damaged_trial_file_is_a_usage_error_naming_it(tmp_path, text):
    settings = engine.settings_of(engine_toy.EXPERIMENT, quick=True)
    engine.run(engine_toy.EXPERIMENT, settings, tmp_path, progress=False)
    (tmp_path / "trials" / "slope=1.5,seed=1.json").write_text(text)
    with pytest.raises(engine.UsageError, match="slope=1.5,seed=1.json is not a"):
        engine.run(engine_toy.EXPERIMENT, settings, tmp_path, progress=False)


def _sweep(out, log, sleep):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]), TOY_LOG=str(log), TOY_SLEEP=sleep)
    return subprocess.Popen([sys.executable, "-m", "engine_toy", "--out", str(out), "--seeds", "4",
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL)


def _stored(out):
    """The finished trials' files (a writer's hidden temporary is not one)."""
    folder = out / "trials"
    return {name for name in os.listdir(folder) if not name.startswith(".")} if folder.is_dir() else set()


def test_a_killed_sweep_resumes_without_recomputing_and_ends_with_the_same_report(tmp_path):
    whole = tmp_path / "whole"
    assert _sweep(whole, tmp_path / "whole.log", "0").wait(timeout=120) == 0
    out, log = tmp_path / "killed", tmp_path / "killed.log"
    process = _sweep(out, log, "0.4")
    deadline = time.monotonic() + 120
    while len(_stored(out)) < 3:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = _stored(out)
    assert 3 <= len(finished) < 8 and not (out / "report.md").exists()
    ran_before = len(log.read_text().splitlines())
    assert _sweep(out, log, "0").wait(timeout=120) == 0
    rerun = log.read_text().splitlines()[ran_before:]
    assert len(rerun) == 8 - len(finished)          # only the unfinished trials ran again
    for name in finished:
        slope, seed = name[len("slope="):-len(".json")].split(",seed=")
        assert f"{float(slope)} {seed}" not in rerun
    for name in ("report.md", "fits.csv", "README.md"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()


def test_ray_workers_give_the_serial_bits(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([ROOT, TESTS]))
    settings = engine.settings_of(engine_toy.EXPERIMENT, seeds=2)
    engine.run(engine_toy.EXPERIMENT, settings, tmp_path / "serial", progress=False)
    engine.run(engine_toy.EXPERIMENT, settings, tmp_path / "ray", workers=2, progress=False)
    names = sorted(os.listdir(tmp_path / "serial" / "trials"))
    assert names == sorted(os.listdir(tmp_path / "ray" / "trials")) and len(names) == 4
    for name in names:
        serial, ray = (json.loads((tmp_path / run / "trials" / name).read_text()) for run in ("serial", "ray"))
        assert serial.pop("seconds") > 0 and ray.pop("seconds") > 0
        assert serial == ray                    # floats read back from JSON exactly: the same bits
    assert (tmp_path / "ray" / "report.md").read_bytes() == (tmp_path / "serial" / "report.md").read_bytes()


def test_records_keep_nan_and_infinity_and_must_be_json_able(tmp_path):
    def odd(settings, condition, seed):
        return {"slope": float("nan") if seed == 0 else float("inf"), "weights": []}

    toy = dataclasses.replace(engine_toy.EXPERIMENT, trial=odd, finish=_records_only)
    settings = engine.settings_of(toy, seeds=2)
    slopes = engine.run(toy, settings, tmp_path / "odd", progress=False)["summary"]["slopes"]
    assert [math.isnan(slope) for slope in slopes] == [True, False, True, False]
    assert [math.isinf(slope) for slope in slopes] == [False, True, False, True]
    unjsonable = dataclasses.replace(toy, trial=lambda settings, condition, seed: {"w": np.zeros(2)})
    with pytest.raises(TypeError, match=r"records of toy's trial \{'slope': 1.0\} seed 0 are not JSON-able"):
        engine.run(unjsonable, settings, tmp_path / "bad", progress=False)
    empty = dataclasses.replace(toy, conditions=lambda settings: [])
    with pytest.raises(engine.UsageError, match="no trial"):
        engine.run(empty, settings, tmp_path / "empty", progress=False)
    assert not (tmp_path / "empty").exists()


def _records_only(settings, trials):
    return engine.Results(title="records", summary={"slopes": [t.records["slope"] for t in trials]})


def test_a_check_across_settings_and_a_bad_experiment_declaration():
    checked = dataclasses.replace(engine_toy.EXPERIMENT,
                                  check=lambda s: "--points must exceed 8" if s["points"] <= 8 else None)
    with pytest.raises(engine.UsageError, match="--points must exceed 8"):
        engine.settings_of(checked, points=8)
    with pytest.raises(ValueError, match="QUICK names unknown settings"):
        dataclasses.replace(engine_toy.EXPERIMENT, quick={"epochs": 3})
    with pytest.raises(ValueError, match="exactly one of them"):
        dataclasses.replace(engine_toy.EXPERIMENT, plan=lambda settings: [])


def test_one_worker_runs_in_process_without_importing_ray(tmp_path):
    code = ("import sys, engine_toy; from minidl.experiments import engine; "
            "engine.run(engine_toy.EXPERIMENT, engine.settings_of(engine_toy.EXPERIMENT, quick=True), "
            f"{str(tmp_path)!r}, progress=False); assert 'ray' not in sys.modules, 'ray was imported'")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.md").is_file()


def test_figure_titles_say_which_seeds_they_show(tmp_path):
    kept = []

    def finish(settings, trials):
        results = engine_toy.finish(settings, trials)
        kept.extend(results.figures)
        return results

    toy = dataclasses.replace(engine_toy.EXPERIMENT, finish=finish)
    engine.run(toy, engine.settings_of(toy, quick=True), tmp_path, progress=False)
    assert kept[0].figure.get_suptitle() == "fitted slopes (mean over 2 seeds)"
    assert engine.one_seed(3) == "seed 3" and engine.over_seeds(1) == "one seed"


def test_list_and_bool_settings():
    toy = dataclasses.replace(engine_toy.EXPERIMENT, settings=engine_toy.EXPERIMENT.settings + (
        engine.Setting("rates", [0.1, 0.5], "rates", type=float, check=engine.probability, nargs="*"),
        engine.Setting("centre", False, "centre the data")))
    parser = argparse.ArgumentParser()
    engine.add_arguments(parser, toy)
    resolve = lambda *argv: engine.resolve(toy, parser.parse_args(list(argv)))  # noqa: E731
    assert (resolve()["rates"], resolve()["centre"]) == ([0.1, 0.5], False)
    assert (resolve("--rates", "--centre")["rates"], resolve("--centre")["centre"]) == ([], True)
    assert resolve("--no-centre")["centre"] is False
    with pytest.raises(engine.UsageError, match=r"--rates must be in \[0, 1\), got 1.5"):
        resolve("--rates", "0.2", "1.5")
    assert "(default: 0.1 0.5)" in parser.format_help() and "(default: False)" in parser.format_help()
