"""Dropout, momentum and the conditioning of hidden layers [Dworakowski 2019, secs. 5.3.1-5.3.2, tables
1-2, figs. 7-12] on scikit-learn's digits, on the experiment engine.

An MLP 64-H-H-10 (ReLU, dropout p after each hidden ReLU) learns the digits (8x8 images flattened to 64)
for every p in {0, 0.25, 0.5, 0.75}, with plain SGD and with momentum 0.9 plus weight decay 1e-3: one
trial per (optimizer, p) and seed. The seed draws the data split, the initialization, the batch order
and the dropout masks, so the conditions of one seed start from the same weights and are compared paired
by seed. A SpectrumTracker follows both hidden layers ('0' and '3') every epoch.

Writes into --out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
    spectrum.csv        one row per seed, condition, epoch and hidden layer: singular values, condition
                        number, stable rank, metrics and the whole spectrum
    tables.csv          tables 1-2: accuracies and final condition numbers per condition, mean over seeds
    conditioning_vs_accuracy.png, conditioning_change_vs_accuracy_change.png,
    test_error_vs_conditioning.png     rows: hidden layers; columns: optimizer; a line per dropout p
    singular_values_vs_epochs.png      sigma_max, sigma_min and kappa of layer '3' per epoch
    spectrum_snapshots.png             the spectrum of layer '0' over epochs (p = 0 and p = 0.5)
    esd.png                            ESD of layer '0' against Marchenko-Pastur, at initialization and
                                       after training (plain SGD, p = 0)
"""
import numpy

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import plots
from minidl.analysis.tracking import SpectrumTracker
from minidl.experiments import engine, stats
from minidl.experiments.engine import Setting, positive
from minidl.experiments.output import figure_grid

NAME = "spectrum"
HELP = "track the conditioning of hidden layers under dropout and momentum [Dworakowski 2019, sec. 5.3]"
DROPOUTS = (0.0, 0.25, 0.5, 0.75)
OPTIMIZERS = {"sgd": {"momentum": 0.0, "weight_decay": 0.0},
              "momentum": {"momentum": 0.9, "weight_decay": 1e-3}}
OPTIMIZER_TITLES = {"sgd": "no momentum or weight decay", "momentum": "momentum 0.9, weight decay 1e-3"}
HIDDEN_LAYERS = ("0", "3")
STATISTICS = ("sigma_max", "sigma_min", "condition_number", "stable_rank")
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy")

SETTINGS = (
    Setting("epochs", 40, "training epochs", check=positive),
    Setting("hidden", 128, "units of each hidden layer", check=positive),
    Setting("lr", 0.02, "SGD learning rate", check=positive),
    Setting("batch_size", 32, "rows per update", check=positive),
)
QUICK = {"epochs": 3, "hidden": 16, "seeds": 2}

SPECTRUM_COLUMNS = {
    "optimizer": "sgd (plain) or momentum (0.9, weight decay 1e-3)", "dropout": "drop probability p",
    "seed": "seed of the trial", "epoch": "epoch (0: before the first update)",
    "layer": "hidden layer: '0' (64 -> H) or '3' (H -> H)", "sigma_max": "largest singular value",
    "sigma_min": "smallest singular value", "condition_number": "sigma_max / sigma_min",
    "stable_rank": "||W||_F^2 / sigma_max^2", "loss": "mean training cross-entropy of the epoch",
    "accuracy": "training accuracy", "val_loss": "validation cross-entropy",
    "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy",
    "spectrum": "every singular value, decreasing, separated by spaces"}
TABLE_COLUMNS = {
    "optimizer": "sgd or momentum (tables 1 and 2)", "dropout": "drop probability p",
    "seeds": "trials averaged", "best_val_accuracy": "highest validation accuracy over the epochs (the "
    "paper's 'max accuracy'), mean over seeds",
    "test_accuracy": "test accuracy at the epoch of the highest validation accuracy, mean over seeds "
    "(the accuracy the claims judge)",
    "final_kappa_0": "condition number of layer '0' after the last epoch, geometric mean over seeds",
    "final_kappa_3": "condition number of layer '3' after the last epoch, geometric mean over seeds"}


def build_model(hidden, p):
    """Linear(64, H) ReLU Dropout(p) Linear(H, H) ReLU Dropout(p) Linear(H, 10); hidden layers '0', '3'."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 10))


def conditions(settings):
    return [{"optimizer": name, "dropout": p} for name in OPTIMIZERS for p in DROPOUTS]


class _TestAccuracy:
    """Callback: the test accuracy after every epoch (the claims score the best validation epoch on it)."""

    def __init__(self, X, y):
        self.X, self.y, self.values = X, y, []

    def on_epoch_end(self, epoch, model, logs):
        self.values.append(train.evaluate(model, nn.functional.cross_entropy, self.X, self.y)["accuracy"])


def trial(settings, condition, seed):
    """Train one network from ``seed``: per epoch and hidden layer, its spectrum and the metrics."""
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    data = load_digits(seed=seed)
    (X, y), (X_val, y_val), (X_test, y_test) = [(flat(X), y) for X, y in
                                                (data.train, data.validation, data.test)]
    minidl.manual_seed(seed)
    model = build_model(settings["hidden"], condition["dropout"])
    tracker, test = SpectrumTracker(layers=HIDDEN_LAYERS), _TestAccuracy(X_test, y_test)
    optimizer = optim.SGD(model.parameters(), lr=settings["lr"], **OPTIMIZERS[condition["optimizer"]])
    history = train.fit(model, nn.functional.cross_entropy, optimizer, X, y, settings["epochs"],
                        settings["batch_size"], validation=(X_val, y_val), callbacks=[tracker, test],
                        progress=False)
    metrics = {h["epoch"]: {key: float(h[key]) for key in METRICS[:-1]} for h in history}
    for epoch, accuracy in zip(sorted(metrics), test.values):
        metrics[epoch]["test_accuracy"] = float(accuracy)
    return [{"epoch": int(row["epoch"]), "layer": row["layer"],
             **{key: float(row[key]) for key in STATISTICS}, **metrics.get(row["epoch"], {}),
             "spectrum": [float(v) for v in row["spectrum"]]} for row in tracker.history]


# --------------------------------------------------------------------- what each trial gives the claims
def best_epoch_accuracy(records):
    """Test accuracy at the (first) epoch of the highest validation accuracy."""
    rows = [r for r in records if r["layer"] == HIDDEN_LAYERS[0] and r["epoch"] >= 1]
    return max(rows, key=lambda r: r["val_accuracy"])["test_accuracy"]


def final_log_kappa(records, layers=HIDDEN_LAYERS):
    """log10 of the final condition number, averaged over ``layers`` (both hidden layers by default)."""
    last = max(r["epoch"] for r in records)
    return float(numpy.mean([numpy.log10(r["condition_number"]) for r in records
                             if r["epoch"] == last and r["layer"] in layers]))


def burst_share(records, layer):
    """Decades sigma_min fell minus decades sigma_max rose from epoch 0 to the epoch of the highest
    condition number of ``layer`` [figs. 9, 12]: positive when sigma_min led the rise; None when the
    condition number never rose above its epoch-0 value."""
    rows = [r for r in records if r["layer"] == layer]
    first, peak = rows[0], max(rows, key=lambda r: r["condition_number"])
    if peak["condition_number"] <= first["condition_number"]:
        return None
    return float(-numpy.log10(peak["sigma_min"] / first["sigma_min"])
                 - numpy.log10(peak["sigma_max"] / first["sigma_max"]))


def steps(records):
    """(|change of log10 kappa|, |change of validation accuracy|) between consecutive epochs >= 1, per
    hidden layer, in a fixed order (layer, epoch) [fig. 8]."""
    pairs = []
    for layer in HIDDEN_LAYERS:
        rows = [r for r in records if r["layer"] == layer and r["epoch"] >= 1]
        pairs += [(abs(numpy.log10(b["condition_number"] / a["condition_number"])),
                   abs(b["val_accuracy"] - a["val_accuracy"])) for a, b in zip(rows, rows[1:])]
    return pairs


def calm_gap(kappa_changes, accuracy_changes):
    """Mean |accuracy change| where |kappa change| is in its top quarter, minus the mean elsewhere (in
    accuracy points); NaN when either group is empty."""
    kappa, accuracy = numpy.asarray(kappa_changes), numpy.asarray(accuracy_changes)
    if kappa.size == 0:
        return numpy.nan
    large = kappa > numpy.quantile(kappa, 0.75)
    if not large.any() or large.all():
        return numpy.nan
    return float(100 * (accuracy[large].mean() - accuracy[~large].mean()))


# --------------------------------------------------------------------- finishing
def _per_seed(trials, name, p, value):
    return [value(t.records) for t in engine.select(trials, optimizer=name, dropout=p)]


def _mean_of_found(values):
    """The mean of the values that are not None; NaN when there are none."""
    found = [v for v in values if v is not None]
    return float(numpy.mean(found)) if found else numpy.nan


def _claims(settings, trials):
    smoke, claims = settings["quick"], []
    for number, name in enumerate(OPTIMIZERS, 1):
        claims.append(stats.ordering(
            f"[Dworakowski 2019, table {number}] ({OPTIMIZER_TITLES[name]}): the baseline without dropout "
            f"is the most accurate, followed by the dropout networks in order of increasing drop "
            f"probability (test accuracy at the best validation epoch).",
            [(f"acc(p = {p:g})", _per_seed(trials, name, p, best_epoch_accuracy)) for p in DROPOUTS],
            "greater", smoke=smoke))
    for name in OPTIMIZERS:
        claims.append(stats.paired(
            f"[Dworakowski 2019, sec. 5.3.1] ({OPTIMIZER_TITLES[name]}): dropout drives sigma_min down, so "
            f"the conditioning ends worse with more dropout (log10 of the final condition number, mean of "
            f"the two hidden layers).",
            _per_seed(trials, name, DROPOUTS[-1], final_log_kappa), _per_seed(trials, name, 0.0,
                                                                               final_log_kappa),
            "greater", effect=f"log10 kappa(p = {DROPOUTS[-1]:g}) - log10 kappa(p = 0)", smoke=smoke))
    seeds = sorted({t.seed for t in trials})
    for layer in HIDDEN_LAYERS:
        bursts = [_mean_of_found([burst_share(t.records, layer) for t in trials if t.seed == seed])
                  for seed in seeds]
        claims.append(stats.one_sample(
            f"[Dworakowski 2019, figs. 9, 12] (layer '{layer}'): the bursts of conditioning come from sigma_min "
            f"falling by orders of magnitude, not from sigma_max growing (from epoch 0 to the epoch of the "
            f"highest condition number; per seed the mean over the conditions whose condition number rose).",
            bursts, "greater", 0.0,
            effect="decades sigma_min fell - decades sigma_max rose", smoke=smoke))
    gaps, shuffled = [], []
    for i, seed in enumerate(seeds):
        partner = seeds[(i + 1) % len(seeds)]   # the null control pairs a seed's kappa with the next's accuracy
        mine, theirs = [], []
        for condition in conditions(settings):
            runs = {t.seed: t.records for t in engine.select(trials, **condition)}
            mine += steps(runs[seed])
            theirs += steps(runs[partner])
        gaps.append(calm_gap([k for k, _ in mine], [a for _, a in mine]))
        shuffled.append(calm_gap([k for k, _ in mine], [a for _, a in theirs]))
    effect = "|d accuracy| (points) at the top quarter of |d log10 kappa| - elsewhere"
    control = stats.one_sample(
        "each seed's conditioning changes set against the next seed's accuracy changes (same condition, "
        "layer and epoch): the epochs' common trend without the link within a run", shuffled, "less", 0.0,
        effect=effect, smoke=smoke)
    claims.append(stats.one_sample(
        "[Dworakowski 2019, fig. 8]: accuracy tends not to change when the conditioning changes a lot "
        "(epoch-to-epoch changes of every condition and hidden layer, per seed).",
        gaps, "less", 0.0, effect=effect, smoke=smoke, control=control))
    return claims


def _table(trials):
    rows = []
    for name in OPTIMIZERS:
        for p in DROPOUTS:
            group = engine.select(trials, optimizer=name, dropout=p)
            kappa = {layer: float(10 ** numpy.mean([final_log_kappa(t.records, (layer,)) for t in group]))
                     for layer in HIDDEN_LAYERS}
            rows.append({"optimizer": name, "dropout": p, "seeds": len(group),
                         "best_val_accuracy": float(numpy.mean(
                             [max(r.get("val_accuracy", 0.0) for r in t.records) for t in group])),
                         "test_accuracy": float(numpy.mean([best_epoch_accuracy(t.records) for t in group])),
                         "final_kappa_0": kappa["0"], "final_kappa_3": kappa["3"]})
    return rows


def finish(settings, trials):
    """Tables 1-2, the spectra of every epoch, the figures of the first seed, and the claims judged."""
    first = trials[0].seed
    runs = {(t.condition["optimizer"], t.condition["dropout"]): t.records for t in trials if t.seed == first}
    spectrum_rows = [{**t.condition, "seed": t.seed, **{k: v for k, v in r.items() if k != "spectrum"},
                      "spectrum": " ".join(f"{v:.9g}" for v in r["spectrum"])}
                     for t in trials for r in t.records]
    table = _table(trials)
    return engine.Results(
        title="Dropout, momentum and the conditioning of hidden layers",
        paper="[Dworakowski 2019, secs. 5.3.1-5.3.2, tables 1-2, figs. 7-12]",
        claims=_claims(settings, trials),
        tables=[engine.Table("tables.csv", "Tables 1-2: accuracies and final condition numbers per "
                             "optimizer and dropout probability.", table, TABLE_COLUMNS, in_report=True),
                engine.Table("spectrum.csv", "One row per seed, condition, epoch and hidden layer.",
                             spectrum_rows, SPECTRUM_COLUMNS)],
        figures=[engine.Figure(name, caption, figure, engine.one_seed(first))
                 for name, caption, figure in _figures(runs, settings["hidden"])],
        summary={"tables": table},
        notes=["The paper trains fully connected networks on an ImageNet-scale task (best accuracies "
               "5-14 %); here an MLP on scikit-learn's digits, a far easier task.",
               "The paper's tables give the highest validation accuracy over the epochs; a maximum over "
               "epochs favours the noisier runs, so the claims judge the test accuracy at the epoch of the "
               "highest validation accuracy (both are in the table).",
               f"The paper reports one training per setting; here {settings['seeds']} seed(s) per setting, "
               f"compared paired by seed (same data split, initialization and batch order).",
               "Figure 8's claim pools the epoch-to-epoch changes of all eight conditions and both hidden "
               "layers of a seed; early epochs change both quantities most, so the null control breaks the "
               "link within a run and keeps that trend."])


def _by_dropout(runs, optimizer_name):
    return {f"p = {p:g}": runs[(optimizer_name, p)] for p in DROPOUTS}


def _layer_grid(draw, suptitle):
    """A figure with a row per hidden layer and a column per optimizer, a line per dropout."""
    figure, axes = figure_grid(len(HIDDEN_LAYERS), len(OPTIMIZERS))
    for i, layer in enumerate(HIDDEN_LAYERS):
        for j, optimizer_name in enumerate(OPTIMIZERS):
            draw(axes[i, j], layer, optimizer_name)
            axes[i, j].set_title(f"layer {layer}: {OPTIMIZER_TITLES[optimizer_name]}", fontsize="medium")
    figure.suptitle(suptitle)
    figure.tight_layout()
    return figure


def _as_matrix(spectrum, shape):
    """A matrix of ``shape`` with the given singular values (its ESD is the trained weight's)."""
    matrix = numpy.zeros(shape)
    numpy.fill_diagonal(matrix, spectrum)
    return matrix


def _figures(runs, hidden):
    """(name, caption, figure) of one seed's trials, ``runs`` keyed by (optimizer, dropout); ``hidden``:
    the width H of the hidden layers."""
    found = [_layer_grid(lambda ax, layer, o: plots.conditioning_vs_accuracy(_by_dropout(runs, o), layer,
                                                                             ax=ax),
                         "Conditioning vs validation accuracy [Dworakowski 2019, figs. 7, 11]"),
             _layer_grid(lambda ax, layer, o: plots.conditioning_change_vs_accuracy_change(
                 _by_dropout(runs, o), layer, ax=ax),
                 "Change in conditioning vs change in accuracy, epoch to epoch [Dworakowski 2019, fig. 8]"),
             _layer_grid(lambda ax, layer, o: plots.test_error_vs_conditioning(
                 _by_dropout(runs, o), layer, error=lambda r: 100 * (1 - r["val_accuracy"]),
                 ylabel="validation error (%)", ax=ax),
                 "Validation error vs conditioning [Dworakowski 2019, figs. 16-17]")]

    figure, axes = figure_grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        plots.singular_values_vs_epochs(_by_dropout(runs, optimizer_name), "3", axes=axes[i])
        for ax in axes[i]:
            ax.set_title(f"layer 3, {OPTIMIZER_TITLES[optimizer_name]}\n{ax.get_title()}", fontsize="medium")
    figure.suptitle("Singular values and conditioning vs epochs [Dworakowski 2019, figs. 9, 12]")
    figure.tight_layout()
    found.append(figure)

    figure, axes = figure_grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        for j, p in enumerate((0.0, 0.5)):
            plots.spectrum_snapshots(runs[(optimizer_name, p)], "0", ax=axes[i, j],
                                     title=f"layer 0, p = {p:g}, {OPTIMIZER_TITLES[optimizer_name]}")
    figure.suptitle("Spectrum of the first hidden layer over epochs")
    figure.tight_layout()
    found.append(figure)

    layer0 = [r for r in runs[("sgd", 0.0)] if r["layer"] == "0"]
    figure, axes = figure_grid(1, 2)
    for ax, row, when in ((axes[0, 0], layer0[0], "at initialization"), (axes[0, 1], layer0[-1],
                                                                          "after training")):
        plots.esd_with_marchenko_pastur(_as_matrix(row["spectrum"], (hidden, 64)), ax=ax)
        ax.set_title(f"{when}: {ax.get_title()}", fontsize="medium")
    figure.suptitle("ESD of layer 0 against Marchenko-Pastur, plain SGD, p = 0")
    figure.tight_layout()
    found.append(figure)
    names = [("conditioning_vs_accuracy.png", "Conditioning vs validation accuracy (figs. 7, 11)"),
             ("conditioning_change_vs_accuracy_change.png",
              "Change in conditioning vs change in accuracy (fig. 8)"),
             ("test_error_vs_conditioning.png", "Validation error vs conditioning"),
             ("singular_values_vs_epochs.png", "sigma_max, sigma_min and kappa of layer 3 per epoch (figs. "
                                               "9, 12)"),
             ("spectrum_snapshots.png", "Spectrum of the first hidden layer over epochs"),
             ("esd.png", "ESD of layer 0 against Marchenko-Pastur, before and after training")]
    return [(name, caption, figure) for (name, caption), figure in zip(names, found)]


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, seeds=5)
