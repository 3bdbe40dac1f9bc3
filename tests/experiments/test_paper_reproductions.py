"""gradient-perturbation, init-perturbation and normalized-loss on the engine: a tiny run writes the report
from its stored trials, and each claim is judged: it holds on records with the paper's effect, does not
hold with the opposite effect, and is not evidence when its null control agrees too."""
import csv
import math

import numpy
import pytest
from threadpoolctl import threadpool_limits

import minidl
from minidl.autograd import Tensor
from minidl.experiments import engine, gradient_perturbation, init_perturbation, normalized_loss, stats

TINY = {
    gradient_perturbation: dict(epochs=1, hidden=8, channels=2, batch_size=256, seeds=2),
    init_perturbation: dict(samples=40, init_epochs=1, perturbation_epochs=4, perturb_every=2, seeds=2),
    normalized_loss: dict(stds=[0.1, 0.2, 0.3], channels=2, epochs=1, random_label_epochs=1, seeds=2),
}

RANGES = [("accuracy", 0.0, 1.0), ("error", 0.0, 1.0), ("condition_number", 1.0, math.inf), ("cosine", -1.0, 1.0),
          ("product_of_norms", 0.0, math.inf)]


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("module", list(TINY), ids=lambda m: m.NAME)
def test_a_tiny_run_writes_a_report_with_its_departures_from_the_paper(module, tmp_path):
    settings = engine.settings_of(module.EXPERIMENT, **TINY[module])
    summary = engine.run(module.EXPERIMENT, settings, tmp_path, progress=False)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# ") and f"Reproduces: {module.PAPER}" in report
    assert "## How this run differs from the paper" in report and "papers/" not in report
    assert summary["claims"] and all(claim.verdict in stats.VERDICTS for claim in summary["claims"])
    assert all(claim.n == 2 for claim in summary["claims"])
    for path in tmp_path.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({path.name})" in report
    for path in tmp_path.glob("*.csv"):
        with open(path) as stream:
            rows = list(csv.DictReader(stream))
        assert rows, path.name
        for column in rows[0]:
            for word, low, high in RANGES:
                if word in column:
                    values = [float(row[column]) for row in rows if row[column] != ""]
                    assert all(low <= v <= high for v in values), f"{path.name}: {column} outside [{low}, {high}]"


def test_quick_presets_are_smoke_runs_and_checks_refuse_bad_settings():
    for module in TINY:
        assert engine.settings_of(module.EXPERIMENT, quick=True)["quick"] is True
    with pytest.raises(engine.UsageError, match="--perturb-every must be below --perturbation-epochs"):
        engine.settings_of(init_perturbation.EXPERIMENT, perturb_every=8, perturbation_epochs=8)
    for stds in ([0.1, 0.2], [0.1, 0.2, 0.1]):
        with pytest.raises(engine.UsageError, match="--stds must be at least 3 distinct values"):
            engine.settings_of(normalized_loss.EXPERIMENT, stds=stds)


# --------------------------------------------------------------------- gradient-perturbation
def _runs(effect, seeds=6):
    """Per-seed numbers of every (network, change) with the layer's effect on accuracy (points) and on
    sigma_min / ||W||_F (decades); a little seed noise."""
    noise = numpy.random.default_rng(0).normal(0, 0.01, (seeds, 5))
    runs = {}
    for index, (network, change) in enumerate((n, c) for n, cs in gradient_perturbation.CHANGES.items() for c in cs):
        layer = change == "gradient perturbation"
        step = {"dropout": -1, "no change": 0}.get(change, 1) * effect
        runs[network, change] = {s: {"test_accuracy_at_best_val": 0.5 + (step + noise[s, index]) / 100,
                                     "relative_sigma_min_0": 0.1,
                                     "relative_sigma_min_final": 0.1 * 10 ** (effect * layer + noise[s, index]),
                                     "kappa_0": 10.0, "kappa_final": 10.0 * 10 ** (-effect * layer + noise[s, index])}
                                 for s in range(seeds)}
    return runs


@pytest.mark.parametrize("effect, verdict", [(1.0, stats.HOLDS), (-1.0, stats.DOES_NOT_HOLD)])
def test_gradient_perturbation_claims_follow_the_effect(effect, verdict):
    claims = gradient_perturbation.claims(_runs(effect), smoke=False)
    assert len(claims) == 7 and [c.verdict for c in claims] == [verdict] * 7
    assert all(c.verdict == stats.NOT_JUDGED for c in gradient_perturbation.claims(_runs(effect), smoke=True))


@pytest.mark.parametrize("build, x", [
    (lambda scale: gradient_perturbation.build_fcn(8, "gradient perturbation", scale),
     numpy.random.default_rng(0).random((64, 64), dtype=numpy.float32)),
    (lambda scale: gradient_perturbation.build_resnet(2, "gradient perturbation", scale),
     numpy.random.default_rng(0).random((64, 1, 8, 8), dtype=numpy.float32))])
def test_weight_gradient_noise_is_zero_without_noise_and_grows_with_the_scale(build, x):
    y = numpy.arange(64) % 10
    measured = {}
    for scale in (0.0, 1.0, 3.0):
        minidl.manual_seed(0)
        model, tracked = build(scale)
        measured[scale] = gradient_perturbation.weight_gradient_noise(model, tracked, x, y, 16)
        assert all(m.scale == scale for m in model.modules() if hasattr(m, "scale"))  # restored
    assert measured[0.0] == 0.0 and 0 < measured[1.0] < measured[3.0]
    model, tracked = gradient_perturbation.build_fcn(8, "no change")
    with pytest.raises(ValueError, match="weight_gradient_noise: the model has no GradientPerturbation"):
        gradient_perturbation.weight_gradient_noise(model, tracked, x.reshape(64, -1), y, 16)


# --------------------------------------------------------------------- init-perturbation
def _initialization_curves(slope, seeds=5):
    """Curves of the initialization runs whose train loss grows by ``slope`` per unit of init std."""
    rng = numpy.random.default_rng(1)
    return [{"part": "initialization", "loss": "exponential", "lr": 1e-4, "init_std": std, "seed": s,
             "perturbation_std": 0.0, "when": "end of epoch", "epoch": epoch,
             "train_loss": 1.0 / (1 + epoch) + slope * std + rng.normal(0, 1e-4), "test_loss": 1.0}
            for s in range(seeds) for std in init_perturbation.INIT_STDS for epoch in range(4)]


@pytest.mark.parametrize("slope, verdict", [(1.0, stats.HOLDS), (0.0, stats.INCONCLUSIVE),
                                            (-1.0, stats.DOES_NOT_HOLD)])
def test_init_perturbation_ordering_by_init_std_is_judged(slope, verdict):
    claim = init_perturbation._init_claim(_initialization_curves(slope), "exponential", 1e-4, smoke=False)
    assert claim.verdict == verdict and len(claim.parts) == len(init_perturbation.INIT_STDS) - 1


def test_init_perturbation_data_has_an_unrelated_control_set():
    data = init_perturbation._data(200, 0)
    (X, y), (X_test, y_test), (X_other, y_other) = data["cross-entropy"]
    assert X.shape == X_test.shape == X_other.shape == (200, 5)
    assert 0.2 < (y_other == y).mean() < 0.8  # another perceptron labels them
    assert numpy.array_equal(data["exponential"][0][1][:, 0], 2.0 * y - 1)


# --------------------------------------------------------------------- normalized-loss
def _networks(trained_slope, untrained_slope, seeds=5):
    """Networks whose test error rises by ``slope`` per unit of normalized train loss, trained and untrained;
    the normalized test loss sits above the train loss by 0.1 scale when trained."""
    rng = numpy.random.default_rng(2)
    rows = []
    for s in range(seeds):
        for std in (0.05, 0.1, 0.2, 0.3):
            for state, slope, offset in (("trained", trained_slope, 0.1), ("untrained", untrained_slope, 0.0)):
                loss = 2.0 + std + rng.normal(0, 0.01)
                rows.append({"labels": "true", "init_std": std, "seed": s, "state": state,
                             "normalized_train_loss": loss, "normalized_test_loss": loss + offset * 0.5,
                             "scale": 0.5, "scaled_offset": offset + rng.normal(0, 0.01),
                             "test_error": 0.5 + slope * loss + rng.normal(0, 1e-3), "product_of_norms": std ** 3})
    return rows


def test_normalized_loss_claims_and_their_null_control():
    claims = normalized_loss.claims(_networks(1.0, 0.0), smoke=False)
    linear, offset, proxy = claims[0], claims[1], claims[2]
    # train and test normalized loss agree by construction, trained or not: not evidence
    assert linear.control.verdict == stats.HOLDS and linear.verdict == stats.INCONCLUSIVE
    assert offset.verdict == stats.HOLDS and offset.control.verdict != stats.HOLDS
    assert proxy.verdict == stats.HOLDS and proxy.control.verdict != stats.HOLDS
    assert normalized_loss.claims(_networks(-1.0, 0.0), smoke=False)[2].verdict == stats.DOES_NOT_HOLD
    assert normalized_loss.claims(_networks(1.0, 1.0), smoke=False)[2].verdict == stats.INCONCLUSIVE


def test_normalized_loss_untrained_controls_are_distinct_nets_with_the_same_measures():
    settings = engine.settings_of(normalized_loss.EXPERIMENT, **TINY[normalized_loss])
    seeds = {normalized_loss._control_seed(settings, {"labels": "true", "init_std": std}, 0)
             for std in settings["stds"]}
    assert len(seeds) == len(settings["stds"])
    minidl.manual_seed(0)
    model = normalized_loss.build(3, 0.2)
    x = numpy.random.default_rng(0).random((6, 1, 8, 8), dtype=numpy.float32)
    measured = normalized_loss.measure(model, (x, numpy.arange(6)), (x, numpy.arange(6)))
    normalized, _ = normalized_loss.norms.normalize_layers(model)
    outputs = normalized(Tensor(x)).numpy().astype(numpy.float64)
    centred = outputs - outputs.mean(axis=1, keepdims=True)
    assert measured["scale"] == pytest.approx(math.sqrt((centred ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("module, condition", [
    (gradient_perturbation, {"network": "fcn", "change": "gradient perturbation"}),
    (init_perturbation, {"part": "perturbation", "loss": "cross-entropy", "perturbation_std": 0.1}),
    (normalized_loss, {"labels": "random", "init_std": 0.1})], ids=lambda value: getattr(value, "NAME", ""))
def test_a_trial_draws_every_random_number_from_its_seed(module, condition):
    settings = engine.settings_of(module.EXPERIMENT, **TINY[module])
    first, again, other = (module.trial(settings, condition, seed) for seed in (3, 3, 4))
    assert first == again and first != other
