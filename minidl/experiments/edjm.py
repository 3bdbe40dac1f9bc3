"""EDJM spectra of digit classifiers: depth, dropout and ensembles [Wang 2016, secs. 4.1, 4.4, 4.5, figs.
1, 4, 5], on the experiment engine.

On scikit-learn's digits, MLPs of 1 to 4 hidden layers sharing a fixed total of hidden units are trained
without dropout (kind "plain") and with it (kind "dropout"): one trial per kind and seed trains the four
depths. In each trial the nets of 2, 3 and 4 hidden layers also form an averaging ensemble (the mean of
their logits, whose DJM is the mean of their DJMs), as in figure 5. For every model, the Extended Data
Jacobian Matrices of its logits on the validation set give a normalized spectrum (figure 1) and the score
of eq. 12, set against test accuracy. The same scores of the untrained networks are the null control of
the claims a score might meet by construction (depth, ensemble). The seed draws the data split and the
initializations (the same for both kinds), so the two kinds are compared paired by seed.

Writes into --out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
spectra.png (normalized spectra, mean over seeds: depth and the ensemble; dropout against none),
scores.csv (score and accuracies per model, mean and spread over seeds), runs.csv (one row per model and
seed) and spectra.csv (the normalized spectra, mean over seeds).
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import backend, nn, optim, train  # noqa: E402
from minidl.analysis import jacobian  # noqa: E402
from minidl.autograd import Tensor, no_grad  # noqa: E402
from minidl.experiments import engine, stats  # noqa: E402
from minidl.experiments.engine import Setting, positive, probability  # noqa: E402

NAME = "edjm"
HELP = "EDJM spectra and scores of digit MLPs of 1-4 hidden layers, with dropout, and their ensemble " \
       "[Wang 2016]"
DEPTHS = (1, 2, 3, 4)
ENSEMBLE = (2, 3, 4)  # the depths averaged by the ensemble, as in [Wang 2016, fig. 5]
KINDS = ("plain", "dropout")
PAPER_INPUTS = 784    # MNIST's input dimension, for the cut's count in the notes


def _percentile(value):
    return None if 0 <= value < 100 else "must be in [0, 100)"


SETTINGS = (
    Setting("hidden_units", 384, "hidden units in all, shared equally by the hidden layers", check=positive),
    Setting("dropout", 0.2, "drop probability of the dropout nets", check=probability),
    Setting("epochs", 60, "training epochs", check=positive),
    Setting("lr", 0.05, "SGD learning rate, the same for every model", check=positive),
    Setting("momentum", 0.9, "SGD momentum", check=probability),
    Setting("batch_size", 32, "rows per update", check=positive),
    Setting("percentile", 90.0, "the score's cut, a percentile of each output's singular values (eq. 12)",
            check=_percentile),
)
QUICK = {"epochs": 12, "seeds": 2, "hidden_units": 96}

RUN_COLUMNS = {"kind": "plain (no dropout) or dropout", "model": "hidden layers x units, or the ensemble",
               "hidden_layers": "number of hidden layers, or 'ensemble'", "seed": "seed of the trial",
               "score": "EDJM score (eq. 12) on the validation set",
               "untrained_score": "the same score of the untrained network(s), the null control",
               "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy"}
SCORE_COLUMNS = {"kind": "plain or dropout", "model": "hidden layers x units, or the ensemble",
                 "seeds": "trials averaged",
                 "score": "EDJM score (eq. 12), mean over seeds ± sample standard deviation",
                 "untrained_score": "score of the untrained network(s), mean ± standard deviation",
                 "test_accuracy": "test accuracy (%), mean ± standard deviation"}


def build(depth, hidden_units, dropout):
    """(Linear, ReLU[, Dropout]) x depth, every hidden layer hidden_units // depth wide, then Linear to 10."""
    width = hidden_units // depth
    layers, inputs = [], 64
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def _logits(model, X):
    model.eval()
    with no_grad():
        return backend.asnumpy(model(Tensor(backend.to_device(X))).data)


def spectrum_and_score(djms, percentile):
    """(normalized spectrum, score) of the EDJMs made from DJMs (n, 10, d_in), computed in float64."""
    values = jacobian.edjm_singular_values(djms.transpose(1, 0, 2).astype(numpy.float64))
    return backend.asnumpy(jacobian.normalized_spectrum(values)), jacobian.edjm_score(values, percentile)


def components_above_cut(k, percentile):
    """How many of k singular values lie above the ``percentile`` cut of eq. 12 (linear interpolation)."""
    return k - 1 - math.floor(percentile / 100 * (k - 1))


def conditions(settings):
    return [{"kind": kind} for kind in KINDS]


def trial(settings, condition, seed):
    """Train the four depths of one kind from ``seed``; score them, their ensemble and their untrained
    selves on the validation set."""
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    data = load_digits(seed=seed)
    (X, y), (X_val, y_val), (X_test, y_test) = ((flat(a), b) for a, b in
                                                (data.train, data.validation, data.test))
    p = settings["dropout"] if condition["kind"] == "dropout" else 0.0
    members = []
    for depth in DEPTHS:
        minidl.manual_seed(1000 * seed + depth)     # the same initialization for both kinds
        model = build(depth, settings["hidden_units"], p)
        untrained = jacobian.djm(model, X_val)
        optimizer = optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"])
        train.fit(model, nn.functional.cross_entropy, optimizer, X, y, settings["epochs"],
                  settings["batch_size"], progress=False)
        members.append((depth, untrained, jacobian.djm(model, X_val), _logits(model, X_val),
                        _logits(model, X_test)))
    chosen = [member for member in members if member[0] in ENSEMBLE]
    ensemble = ("ensemble", *(sum(member[i] for member in chosen) / len(chosen) for i in (1, 2, 3, 4)))
    records = []
    for depth, untrained, trained, val_logits, test_logits in members + [ensemble]:
        spectrum, score = spectrum_and_score(trained, settings["percentile"])
        records.append({"hidden_layers": depth, "score": float(score),
                        "untrained_score": float(spectrum_and_score(untrained, settings["percentile"])[1]),
                        "val_accuracy": float((val_logits.argmax(1) == y_val).mean()),
                        "test_accuracy": float((test_logits.argmax(1) == y_test).mean()),
                        "spectrum": [float(v) for v in spectrum]})
    return records


# --------------------------------------------------------------------- finishing
def model_name(depth, hidden_units):
    return "ensemble of 2-4" if depth == "ensemble" else f"{depth} x {hidden_units // depth}"


def _values(trials, kind, depth, key):
    """One value per seed (in seed order) of ``key`` for the model of ``depth`` of ``kind``."""
    return [next(r[key] for r in t.records if r["hidden_layers"] == depth)
            for t in engine.select(trials, kind=kind)]


def _ensemble_gap(trials, kind, key, pick):
    """Per seed: the ensemble's ``key`` minus ``pick`` (min or max) of its members'."""
    return [next(r[key] for r in t.records if r["hidden_layers"] == "ensemble")
            - pick(r[key] for r in t.records if r["hidden_layers"] in ENSEMBLE)
            for t in engine.select(trials, kind=kind)]


def _mean_over_depths(trials, kind, key):
    return numpy.mean([_values(trials, kind, depth, key) for depth in DEPTHS], axis=0)


def _claims(settings, trials):
    smoke = settings["quick"]
    claims = [stats.ordering(
        "[Wang 2016, fig. 1, sec. 4.1]: with a fixed total of hidden units, deeper networks have EDJMs with "
        "more dominant singular values, a higher score (networks without dropout).",
        [(f"score({depth} layers)", _values(trials, "plain", depth, "score")) for depth in DEPTHS], "less",
        smoke=smoke, control=stats.ordering(
            "the same ordering of the untrained networks (mean untrained scores by hidden layers "
            + ", ".join(f"{depth}: {numpy.mean(_values(trials, 'plain', depth, 'untrained_score')):.3g}"
                        for depth in DEPTHS) + ")",
            [(f"untrained score({depth} layers)", _values(trials, "plain", depth, "untrained_score"))
             for depth in DEPTHS], "less", smoke=smoke))]
    claims.append(stats.paired(
        "[Wang 2016, fig. 4, sec. 4.4]: dropout networks have higher scores (mean over the four depths).",
        _mean_over_depths(trials, "dropout", "score"), _mean_over_depths(trials, "plain", "score"), "greater",
        effect="score(dropout) - score(plain)", smoke=smoke))
    claims.append(stats.paired(
        "[Wang 2016, sec. 4.4]: dropout networks are also more accurate (test accuracy, mean over the four "
        "depths).", _mean_over_depths(trials, "dropout", "test_accuracy"),
        _mean_over_depths(trials, "plain", "test_accuracy"), "greater",
        effect="accuracy(dropout) - accuracy(plain)", smoke=smoke))
    for kind in KINDS:
        claims.append(stats.one_sample(
            f"[Wang 2016, fig. 5, sec. 4.5] ({kind}): the averaging ensemble scores below every one of its "
            f"members.", _ensemble_gap(trials, kind, "score", min), "less", 0.0,
            effect="score(ensemble) - lowest member score", smoke=smoke,
            control=stats.one_sample(
                "the same of the untrained networks and their ensemble",
                _ensemble_gap(trials, kind, "untrained_score", min), "less", 0.0,
                effect="untrained score(ensemble) - lowest untrained member score", smoke=smoke)))
    for kind in KINDS:
        claims.append(stats.one_sample(
            f"[Wang 2016, sec. 4.5] ({kind}): the ensemble is more accurate than its members (test "
            f"accuracy).", _ensemble_gap(trials, kind, "test_accuracy", max), "greater", 0.0,
            effect="accuracy(ensemble) - best member accuracy", smoke=smoke))
    return claims


def _spread(values, scale=1.0):
    """'mean ± sd', or 'mean (spread undefined with one seed)'."""
    values = scale * numpy.asarray(values, dtype=numpy.float64)
    if len(values) < 2:
        return f"{values.mean():.2f} (spread undefined with one seed)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def finish(settings, trials):
    """runs.csv, scores.csv, spectra.csv, spectra.png (means over seeds) and the claims judged."""
    units, seeds = settings["hidden_units"], len(engine.select(trials, kind="plain"))
    runs = [{"kind": t.condition["kind"], "model": model_name(r["hidden_layers"], units), "seed": t.seed,
             **{key: r[key] for key in RUN_COLUMNS if key in r}} for t in trials for r in t.records]
    scores, spectra = [], {}
    for kind in KINDS:
        for depth in DEPTHS + ("ensemble",):
            name = model_name(depth, units) + (" dropout" if kind == "dropout" else "")
            scores.append({"kind": kind, "model": name, "seeds": seeds,
                           "score": _spread(_values(trials, kind, depth, "score")),
                           "untrained_score": _spread(_values(trials, kind, depth, "untrained_score")),
                           "test_accuracy": _spread(_values(trials, kind, depth, "test_accuracy"), 100)})
            spectra[(kind, depth)] = numpy.mean(_values(trials, kind, depth, "spectrum"), axis=0)
    labels = {key: model_name(key[1], units) + (" dropout" if key[0] == "dropout" else "") for key in spectra}
    k = len(next(iter(spectra.values())))
    spectrum_rows = [{"component": i, **{labels[key]: float(c[i]) for key, c in spectra.items()}}
                     for i in range(k)]
    spectrum_columns = {"component": "index of the singular value, decreasing (0: the largest)",
                        **{label: f"normalized singular value of {label}, mean over seeds"
                           for label in labels.values()}}
    means = {key: (float(numpy.mean(_values(trials, *key, "score"))),
                   float(numpy.mean(_values(trials, *key, "test_accuracy")))) for key in spectra}
    kept = components_above_cut(k, settings["percentile"])
    return engine.Results(
        title="EDJM spectra of digit MLPs: depth, dropout and ensembles",
        paper="[Wang 2016, secs. 4.1, 4.4, 4.5, figs. 1, 4, 5]",
        claims=_claims(settings, trials),
        tables=[engine.Table("scores.csv", f"EDJM score (eq. 12, {settings['percentile']:g}th-percentile cut) "
                             "on the validation set and test accuracy per model.", scores, SCORE_COLUMNS,
                             in_report=True),
                engine.Table("runs.csv", "One row per model and seed.", runs, RUN_COLUMNS),
                engine.Table("spectra.csv", "The normalized EDJM spectra, one row per component.",
                             spectrum_rows, spectrum_columns)],
        figures=[engine.Figure("spectra.png", "Normalized EDJM spectra: depth and the ensemble; with and "
                               "without dropout", _figure(spectra, means, labels, kept),
                               engine.over_seeds(seeds))],
        summary={"scores": {labels[key]: {"score": s, "test_accuracy": a} for key, (s, a) in means.items()},
                 "components_above_cut": kept},
        notes=["The paper uses MNIST, CIFAR-10 and TIMIT with layers of thousands of units; here "
               f"scikit-learn's digits with {units} hidden units in all.",
               f"Digits have {k} input dimensions, so each output's EDJM has {k} singular values and only "
               f"{kept} of them pass the {settings['percentile']:g}th-percentile cut of the score, against "
               f"{components_above_cut(PAPER_INPUTS, settings['percentile'])} of {PAPER_INPUTS} on MNIST: "
               f"the score sums few values here.",
               f"The paper selects every model's hyperparameters by grid search and halves the learning rate "
               f"when validation stalls; here every model trains with the same fixed learning rate "
               f"{settings['lr']:g} (momentum {settings['momentum']:g}) for {settings['epochs']} epochs.",
               f"The paper reports one network per model; here {seeds} seed(s), compared paired by seed "
               f"(the two kinds share the data split and initializations).",
               "The untrained networks' scores are a null control: a claim the untrained networks also "
               "meet is not evidence of learning."])


def _figure(spectra, means, labels, kept):
    """Top row: the leading components on a linear axis (where the score lives, [Wang 2016, fig. 1]);
    bottom row: every component on a log axis."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(2, 2, figsize=(13, 9), sharey="row")

    def curve(column, key, **style):
        score, accuracy = means[key]
        for axis in axes[:, column]:
            axis.plot(spectra[key], linewidth=1.5, **style,
                      label=f"{labels[key]}: score {score:.2f}, test acc {100 * accuracy:.1f}%")

    for color, depth in zip(colors, DEPTHS):
        curve(0, ("plain", depth), color=color)
        curve(1, ("plain", depth), color=color)
        curve(1, ("dropout", depth), color=color, linestyle="--")
    curve(0, ("plain", "ensemble"), color="k", linestyle="--")
    axes[0, 0].set(title="depth (fixed total of hidden units) and the ensemble")
    axes[0, 1].set(title="without (solid) and with (dashed) dropout")
    for axis in axes[0]:
        axis.axvline(kept - 0.5, color="grey", linewidth=0.8)
        axis.set(xlim=(-0.5, 3 * kept), ylim=(0, 1.02), ylabel="normalized singular value")
        axis.text(kept - 0.3, 0.9, f"score: the {kept} components left of this line", fontsize=8)
    for axis in axes[1]:
        axis.set(xlabel="component (decreasing)", yscale="log", ylabel="normalized singular value (log)")
    for axis in axes.flat:
        axis.grid(alpha=0.3, which="both")
    for axis in axes[0]:
        axis.legend(fontsize=8)
    figure.suptitle("Normalized EDJM spectra of digit MLPs on the validation set, averaged over the 10 "
                    "outputs [Wang 2016, figs. 1, 4, 5]")
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, seeds=5)
