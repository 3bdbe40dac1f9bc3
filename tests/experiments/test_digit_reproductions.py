"""The reproductions on digits (dropout-conditioning, edjm, low-rank, pruning) on the engine: a tiny run of
each through the command line writes its files as a smoke run, and each claim is judged: on synthetic
trials it holds with the paper's effect, fails with the opposite one, and a null control that shows the
same effect makes it inconclusive."""
import json
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minidl.experiments import cli, edjm, engine, low_rank, pruning_curves, spectrum, stats

JUDGED = {"quick": False}


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("name, flags, files", [
    ("dropout-conditioning", ["--epochs", "2", "--hidden", "8"],
     ["tables.csv", "spectrum.csv", "esd.png", "singular_values_vs_epochs.png"]),
    ("edjm", ["--epochs", "1", "--hidden-units", "24"], ["scores.csv", "runs.csv", "spectra.csv", "spectra.png"]),
    ("low-rank", ["--epochs", "1", "--width", "16"], ["table.csv", "networks.csv", "ranks.csv", "low_rank.png"]),
    ("pruning", ["--epochs", "1", "--channels", "2", "--points", "3"], ["table.csv", "curves.csv", "pruning.png"]),
])
def test_a_tiny_run_is_a_smoke_run_with_every_file(name, flags, files, tmp_path, capsys):
    argv = ["reproduce", name, "--quick", "--seeds", "2", "--no-progress", "--out", str(tmp_path)] + flags
    assert cli.main(argv) == 0
    assert "not judged (smoke run)" in capsys.readouterr().out
    for file in files:
        assert (tmp_path / file).stat().st_size > 0, file
    report = (tmp_path / "report.md").read_text()
    assert "> **Smoke run**" in report and "## How this run differs from the paper" in report
    assert "papers/" not in report and "[" in report.split("Reproduces: ", 1)[1].split("\n")[0]
    verdicts = re.findall(r"^- \*\*([^*]+)\*\*", report, flags=re.MULTILINE)
    assert verdicts and set(verdicts) == {stats.NOT_JUDGED}
    linked = sorted(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report))
    assert linked == sorted(p.name for p in tmp_path.glob("*.png"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["smoke_run"] and len(summary["claims"]) == len(verdicts)


def _noise(seed, scale=0.01):
    return scale * np.random.default_rng(seed).normal()


# --------------------------------------------------------------------- dropout-conditioning
def _spectrum_trial(optimizer, p, seed, accuracy_slope, kappa_slope, epochs=4):
    records = []
    for epoch in range(epochs + 1):
        for layer in spectrum.HIDDEN_LAYERS:
            kappa = 10.0 * 10 ** (kappa_slope * p * epoch / epochs + _noise(seed + 7 * epoch, 0.01))
            row = {"epoch": epoch, "layer": layer, "sigma_max": 2.0, "sigma_min": 2.0 / kappa,
                   "condition_number": kappa, "stable_rank": 3.0, "spectrum": [2.0, 2.0 / kappa]}
            if epoch:
                row.update(val_accuracy=0.5 + 0.1 * epoch,
                           test_accuracy=0.9 - accuracy_slope * p + _noise(1000 * seed + int(100 * p)))
            records.append(row)
    return engine.Trial({"optimizer": optimizer, "dropout": p}, seed, records)


def _spectrum_trials(accuracy_slope, kappa_slope, seeds=5):
    return [_spectrum_trial(c["optimizer"], c["dropout"], seed, accuracy_slope, kappa_slope)
            for c in spectrum.conditions({}) for seed in range(seeds)]


def test_dropout_conditioning_claims_follow_the_effect():
    paper = spectrum._claims(JUDGED, _spectrum_trials(0.4, 1.0))
    opposite = spectrum._claims(JUDGED, _spectrum_trials(-0.4, -1.0))
    none = spectrum._claims(JUDGED, _spectrum_trials(0.0, 0.0))
    for i in range(4):      # tables 1-2 as orderings, then sec. 5.3.1 for each optimizer
        assert (paper[i].verdict, opposite[i].verdict) == (stats.HOLDS, stats.DOES_NOT_HOLD)
    assert {c.verdict for c in none[:2]} == {stats.INCONCLUSIVE}
    assert len(paper[0].parts) == 3 and paper[0].n == 5
    # the burst comes from sigma_min alone here (sigma_max stays 2.0): figures 9, 12 hold in both layers
    assert [c.verdict for c in paper[4:6]] == [stats.HOLDS] * 2 and paper[4].mean > 0


def test_best_epoch_accuracy_is_scored_at_the_best_validation_epoch():
    records = [{"epoch": 0, "layer": "0"}, {"epoch": 1, "layer": "0", "val_accuracy": 0.7, "test_accuracy": 0.1},
               {"epoch": 2, "layer": "0", "val_accuracy": 0.9, "test_accuracy": 0.2},
               {"epoch": 3, "layer": "0", "val_accuracy": 0.9, "test_accuracy": 0.3}]
    assert spectrum.best_epoch_accuracy(records) == 0.2  # the first epoch of the highest validation accuracy


def test_burst_share_is_none_without_a_rise():
    rows = [{"layer": "0", "condition_number": k, "sigma_max": 1.0, "sigma_min": 1.0 / k} for k in (5.0, 50.0, 20.0)]
    assert spectrum.burst_share(rows, "0") == pytest.approx(1.0)    # sigma_min fell one decade, sigma_max stayed
    assert spectrum.burst_share(rows[::-1][:1] + rows[:1], "0") is None


def test_calm_gap_compares_the_top_quarter_of_kappa_changes_with_the_rest():
    kappa = [0.1] * 7 + [5.0]   # above the 75th percentile (0.1): only 5.0
    accuracy = [0.02] * 7 + [0.0]
    assert spectrum.calm_gap(kappa, accuracy) == pytest.approx(-2.0)
    assert np.isnan(spectrum.calm_gap([], [])) and np.isnan(spectrum.calm_gap([1.0, 1.0], [0.1, 0.2]))


# --------------------------------------------------------------------- edjm
def _edjm_trials(score_slope, untrained_slope, ensemble_offset=-1.0, seeds=5):
    trials = []
    for kind in edjm.KINDS:
        for seed in range(seeds):
            records = [{"hidden_layers": depth, "score": 1.0 + score_slope * depth + _noise(seed + depth),
                        "untrained_score": 2.0 + untrained_slope * depth + _noise(50 + seed + depth),
                        "val_accuracy": 0.9, "test_accuracy": 0.9 + _noise(9 * seed + depth),
                        "spectrum": [1.0, 0.5, 0.1]} for depth in edjm.DEPTHS]
            lowest = min(r["score"] for r in records if r["hidden_layers"] in edjm.ENSEMBLE)
            records.append({"hidden_layers": "ensemble", "score": lowest + ensemble_offset + _noise(seed),
                            "untrained_score": 2.0 + _noise(seed + 3), "val_accuracy": 0.95,
                            "test_accuracy": 0.95 + _noise(seed), "spectrum": [1.0, 0.4, 0.05]})
            trials.append(engine.Trial({"kind": kind}, seed, records))
    return trials


def test_edjm_depth_claim_holds_fails_and_yields_to_its_control():
    assert edjm._claims(JUDGED, _edjm_trials(0.5, 0.0))[0].verdict == stats.HOLDS
    assert edjm._claims(JUDGED, _edjm_trials(-0.5, 0.0))[0].verdict == stats.DOES_NOT_HOLD
    confounded = edjm._claims(JUDGED, _edjm_trials(0.5, 0.5))[0]
    assert confounded.control.verdict == stats.HOLDS and confounded.verdict == stats.INCONCLUSIVE


def test_edjm_ensemble_claims_follow_the_effect():
    below = edjm._claims(JUDGED, _edjm_trials(0.5, 0.0, ensemble_offset=-1.0))
    above = edjm._claims(JUDGED, _edjm_trials(0.5, 0.0, ensemble_offset=+1.0))
    assert [c.verdict for c in below[3:5]] == [stats.HOLDS] * 2      # the ensemble scores below its members
    assert [c.verdict for c in above[3:5]] == [stats.DOES_NOT_HOLD] * 2
    assert [c.verdict for c in below[5:7]] == [stats.HOLDS] * 2      # and is more accurate than the best


def test_edjm_one_seed_has_no_spread():
    assert edjm._spread([3.14159]) == "3.14 (spread undefined with one seed)"
    assert edjm._spread([1.0, 3.0]) == "2.00 ± 1.41"
    assert edjm.components_above_cut(64, 90) == 7 and edjm.components_above_cut(784, 90) == 79


# --------------------------------------------------------------------- low-rank
def _networks(elbow, untrained_elbow, drop_slope, seeds=6):
    return [{"depth": depth, "seed": seed, "elbow_rank": elbow + (seed + depth) % 2,
             "untrained_elbow_rank": untrained_elbow + (seed + depth) % 2,
             "drop_points": 5.0 - drop_slope * depth + _noise(seed + depth, 0.1),
             f"drop_points_at_k{low_rank.PAPER_RANK}": 8.0 - drop_slope * depth + _noise(seed + 10 * depth, 0.1)}
            for depth in low_rank.DEPTHS for seed in range(seeds)]


def test_low_rank_claims_follow_the_effect_and_the_control():
    paper = low_rank._claims(JUDGED, _networks(10, 30, 1.0))
    assert [c.verdict for c in paper] == [stats.HOLDS] * 4
    opposite = low_rank._claims(JUDGED, _networks(25, 30, -1.0))
    assert [c.verdict for c in opposite] == [stats.DOES_NOT_HOLD] * 4
    at_init = low_rank._claims(JUDGED, _networks(10, 10, 1.0))[3]   # the untrained layer's elbow is 10 too
    assert at_init.control.verdict == stats.HOLDS and at_init.verdict == stats.INCONCLUSIVE


# --------------------------------------------------------------------- pruning
def _pruning_trials(order, seeds=5):
    """Each criterion's curve sits at a level given by its place in ``order`` (first: highest)."""
    trials = []
    for network in pruning_curves.NETWORKS:
        for seed in range(seeds):
            curves = {criterion: {"units_pruned": [0, 5, 9], "random_std": [0.0, 0.0, 0.0],
                                  "accuracy": [0.9, 0.8 - 0.05 * order.index(criterion) + _noise(seed),
                                               0.5 - 0.05 * order.index(criterion)]}
                      for criterion in order}
            trials.append(engine.Trial({"network": network}, seed, {"units": 10, "accuracy": 0.9,
                                                                    "curves": curves}))
    return trials


def test_pruning_claims_follow_the_order_of_the_curves():
    paper = ["max_magnitude", "min_magnitude", "max_frame_potential", "random", "min_frame_potential"]
    assert {c.verdict for c in pruning_curves._claims(JUDGED, _pruning_trials(paper))} == {stats.HOLDS}
    reversed_ = pruning_curves._claims(JUDGED, _pruning_trials(paper[::-1]))
    assert {c.verdict for c in reversed_} == {stats.DOES_NOT_HOLD}
    assert all(c.n == 5 for c in reversed_)
