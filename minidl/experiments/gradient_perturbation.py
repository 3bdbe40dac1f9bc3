"""The gradient perturbation layer on digits: [Dworakowski 2019, sec. 5.3.3, table 3, fig. 13].

nn.GradientPerturbation is the identity forward and adds N(0, (3 std(g))^2) noise to the gradient g
that flows back through it [Dworakowski 2019, eq. 21]. Two networks learn scikit-learn's digits with and
without it:

- FCN: Linear(64, H) ReLU [change] Linear(H, H) ReLU [change] Linear(H, 10), the change being nothing,
  Dropout(0.25) or the perturbation layer (table 3's three FCN rows), trained with momentum 0.9 and
  weight decay 1e-3 as in table 2, where table 3's FCN rows come from. Tracked: the square hidden
  layer Linear(H, H).
- ResNet: Conv(1, C, 3) BatchNorm ReLU, then two residual blocks (Conv BatchNorm ReLU Conv BatchNorm
  plus the identity, then ReLU), each followed by the change (nothing or the perturbation layer),
  MaxPool 2, Linear(16 C, 10); momentum 0.9, weight decay 1e-4. Tracked: the first convolution of the
  first block, as the (C, 9 C) matrix that multiplies the im2col columns. It feeds a BatchNorm, so its
  scale is free: only scale-free quantities of it (kappa, sigma_min / ||W||_F) are judged.

Every tracked layer lies before a perturbation layer, so the noise reaches its gradient; the layer adds
noise to the gradient of the activations, and the weight gradient receives that noise multiplied by the
layer's inputs. :func:`weight_gradient_noise` measures what reaches the tracked weight.

One trial is one (network, change, seed): the seed draws the data split, the initialization and the batch
order, the same for every change, so the changes are compared paired by seed. Each trial records per
epoch the tracked layer's sigma_max, sigma_min, condition number and Frobenius norm, and the train,
validation and test accuracies; the accuracy judged is the test accuracy at the epoch of best validation
accuracy (validation and test are separate splits).
"""
import math

import matplotlib

matplotlib.use("Agg")
import numpy  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import backend, nn, optim, train  # noqa: E402
from minidl.analysis.tracking import SpectrumTracker  # noqa: E402
from minidl.autograd import Tensor  # noqa: E402
from minidl.experiments import engine, stats  # noqa: E402
from minidl.experiments.engine import Setting, nonnegative, positive  # noqa: E402
from minidl.experiments.output import figure_grid  # noqa: E402

NAME = "gradient-perturbation"
HELP = "an FCN and a residual conv net on digits with and without the gradient perturbation layer " \
       "[Dworakowski 2019, sec. 5.3.3]"
PAPER = "[Dworakowski 2019, sec. 5.3.3, table 3, fig. 13]"
DROPOUT = 0.25
CHANGES = {"fcn": ("no change", "dropout", "gradient perturbation"),
           "resnet": ("no change", "gradient perturbation")}
OPTIMIZERS = {"fcn": {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-3},
              "resnet": {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}}
TITLES = {"fcn": "FCN 64-H-H-10", "resnet": "residual conv net"}
NOISE_BATCHES = 4  # training batches on which the weight gradient's noise is measured

SETTINGS = (
    Setting("epochs", 30, "training epochs", check=positive),
    Setting("hidden", 128, "width H of the FCN", check=positive),
    Setting("channels", 16, "channels C of the residual net", check=positive),
    Setting("scale", 3.0, "noise std over gradient std [Dworakowski 2019, eq. 21]", check=nonnegative),
    Setting("batch_size", 32, "rows per update", check=positive),
)
QUICK = {"epochs": 3, "hidden": 32, "channels": 8, "seeds": 2}

RECORD_COLUMNS = {
    "network": "fcn or resnet", "change": "no change, dropout or gradient perturbation",
    "seed": "seed of the trial (data split, initialization, batch order)",
    "epoch": "epoch (0: before training)",
    "sigma_max": "largest singular value of the tracked layer",
    "sigma_min": "smallest singular value of the tracked layer",
    "condition_number": "sigma_max / sigma_min of the tracked layer",
    "frobenius": "Frobenius norm ||W||_F of the tracked layer",
    "loss": "mean training cross-entropy over the epoch (empty at epoch 0)",
    "accuracy": "training accuracy over the epoch (empty at epoch 0)",
    "val_accuracy": "validation accuracy after the epoch (empty at epoch 0)",
    "test_accuracy": "test accuracy after the epoch (empty at epoch 0)"}
SUMMARY_COLUMNS = {
    "network": "fcn or resnet", "change": "no change, dropout or gradient perturbation",
    "seeds": "number of seeds",
    "test_accuracy_at_best_val": "test accuracy at the epoch of best validation accuracy, mean over seeds",
    "final_test_accuracy": "test accuracy after the last epoch, mean over seeds",
    "best_val_accuracy": "best validation accuracy over the epochs (the paper's 'max accuracy'; it "
                         "favours noisy runs, so it is not judged), mean over seeds",
    "kappa_0": "condition number of the tracked layer before training, geometric mean over seeds",
    "kappa_final": "condition number of the tracked layer after training, geometric mean over seeds",
    "relative_sigma_min_0": "sigma_min / ||W||_F before training, geometric mean over seeds",
    "relative_sigma_min_final": "sigma_min / ||W||_F after training, geometric mean over seeds",
    "frobenius_growth_decades": "log10(||W||_F after / before training), mean over seeds",
    "weight_noise_0": "std(dW with the layer - dW without) / std(dW without) of the tracked layer, at "
                      "initialization, median over batches and seeds (empty without the layer)",
    "weight_noise_final": "the same after training"}


def _change(change, scale):
    if change == "dropout":
        return [nn.Dropout(DROPOUT)]
    if change == "gradient perturbation":
        return [nn.GradientPerturbation(scale)]
    return []


def build_fcn(hidden, change, scale=3.0):
    """(model, tracked layer): the FCN of the module docstring and its hidden Linear(H, H)."""
    tracked = nn.Linear(hidden, hidden)
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), *_change(change, scale), tracked, nn.ReLU(),
                          *_change(change, scale), nn.Linear(hidden, 10))
    return model, tracked


def build_resnet(channels, change, scale=3.0):
    """(model, tracked layer): the residual net of the module docstring, input (N, 1, 8, 8), and the
    first convolution of its first block."""
    def conv(inputs):
        return nn.Conv2d(inputs, channels, 3, padding=1, bias=False)

    blocks = [nn.Residual(nn.Sequential(conv(channels), nn.BatchNorm2d(channels), nn.ReLU(),
                                        conv(channels), nn.BatchNorm2d(channels))) for _ in range(2)]
    layers = [conv(1), nn.BatchNorm2d(channels), nn.ReLU()]
    for block in blocks:
        layers += [block, nn.ReLU(), *_change(change, scale)]
    layers += [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * channels, 10)]
    return nn.Sequential(*layers), blocks[0].body[0]


def _build(settings, network, change):
    if network == "fcn":
        return build_fcn(settings["hidden"], change, settings["scale"])
    return build_resnet(settings["channels"], change, settings["scale"])


def weight_gradient_noise(model, tracked, X, y, batch_size, batches=NOISE_BATCHES):
    """How much noise the perturbation layers of ``model`` put on the weight gradient of ``tracked``.

    For each of the first ``batches`` batches of (X, y): the cross-entropy gradient dW of the tracked
    weight with the layers' scale as set, and again with scale 0 (no noise), from the same weights
    (model in training mode). Returns the median of std(dW_noisy - dW_clean) / std(dW_clean); the layer
    itself adds noise of ``scale`` times the std of the *activation* gradient [Dworakowski 2019, eq. 21].
    Draws from the backend generator, and BatchNorm running statistics move: measure after training, or
    on a model that is not trained afterwards.

    Raises:
        ValueError: when ``model`` has no GradientPerturbation layer.
    """
    layers = [m for m in model.modules() if isinstance(m, nn.GradientPerturbation)]
    if not layers:
        raise ValueError("weight_gradient_noise: the model has no GradientPerturbation layer")
    scales = [layer.scale for layer in layers]
    model.train()
    ratios = []
    try:
        for start in range(0, min(len(X), batches * batch_size), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            gradients = []
            for noisy in (False, True):
                for layer, scale in zip(layers, scales):
                    layer.scale = scale if noisy else 0.0
                model.zero_grad()
                nn.functional.cross_entropy(model(Tensor(backend.to_device(xb))), backend.to_device(yb)).backward()
                gradients.append(backend.asnumpy(tracked.weight.grad).astype(numpy.float64))
            ratios.append(float(numpy.std(gradients[1] - gradients[0]) / numpy.std(gradients[0])))
    finally:
        for layer, scale in zip(layers, scales):
            layer.scale = scale
        model.zero_grad()
    return float(numpy.median(ratios))


class TestAccuracy:
    """A fit callback: the accuracy on (X, y) after every epoch, in ``values``."""
    __test__ = False

    def __init__(self, X, y):
        self.X, self.y, self.values = X, y, []

    def on_epoch_end(self, epoch, model, logs):
        self.values.append(train.evaluate(model, nn.functional.cross_entropy, self.X, self.y)["accuracy"])


def trial(settings, condition, seed):
    """Train one (network, change) from ``seed``: per epoch the tracked layer's spectrum and the
    accuracies; with the perturbation layer, its noise on the tracked weight gradient at initialization
    and after training."""
    network, change = condition["network"], condition["change"]
    data = load_digits(seed=seed)
    shape = (lambda a: a.reshape(len(a), -1)) if network == "fcn" else (lambda a: a)
    (X, y), (X_val, y_val), (X_test, y_test) = ((shape(part[0]), part[1])
                                                for part in (data.train, data.validation, data.test))
    minidl.manual_seed(seed)
    model, tracked = _build(settings, network, change)
    tracker, test = SpectrumTracker(layers=[tracked]), TestAccuracy(X_test, y_test)
    history = train.fit(model, nn.functional.cross_entropy, optim.SGD(model.parameters(), **OPTIMIZERS[network]),
                        X, y, settings["epochs"], settings["batch_size"], validation=(X_val, y_val),
                        callbacks=[tracker, test], progress=False)
    epochs = []
    for row in tracker.history:
        spectrum = numpy.asarray(row["spectrum"], dtype=numpy.float64)
        metrics = history[row["epoch"] - 1] if row["epoch"] else {}
        epochs.append({"epoch": row["epoch"], "sigma_max": row["sigma_max"], "sigma_min": row["sigma_min"],
                       "condition_number": row["condition_number"],
                       "frobenius": float(numpy.sqrt((spectrum ** 2).sum())),
                       **{key: (float(metrics[key]) if metrics else None)
                          for key in ("loss", "accuracy", "val_accuracy")},
                       "test_accuracy": test.values[row["epoch"] - 1] if row["epoch"] else None})
    noise = None
    if change == "gradient perturbation":
        final = weight_gradient_noise(model, tracked, X, y, settings["batch_size"])
        minidl.manual_seed(seed)  # the same initial weights again, for the noise before training
        model, tracked = _build(settings, network, change)
        noise = {"initial": weight_gradient_noise(model, tracked, X, y, settings["batch_size"]),
                 "final": final}
    return {"epochs": epochs, "weight_noise": noise}


# --------------------------------------------------------------------- per-trial numbers
def _run(trial_):
    """The numbers of one trial that the claims and the summary table use."""
    epochs = trial_.records["epochs"]
    first, last = epochs[0], epochs[-1]
    trained = epochs[1:]
    best = max(trained, key=lambda row: row["val_accuracy"])  # the first epoch of the best validation
    return {"test_accuracy_at_best_val": best["test_accuracy"], "final_test_accuracy": last["test_accuracy"],
            "best_val_accuracy": best["val_accuracy"],
            "kappa_0": first["condition_number"], "kappa_final": last["condition_number"],
            "relative_sigma_min_0": first["sigma_min"] / first["frobenius"],
            "relative_sigma_min_final": last["sigma_min"] / last["frobenius"],
            "frobenius_growth_decades": math.log10(last["frobenius"] / first["frobenius"]),
            "weight_noise": trial_.records["weight_noise"]}


def _values(runs, network, change, key):
    """``key`` of (network, change), one value per seed in seed order."""
    return numpy.array([run[key] for seed, run in sorted(runs[network, change].items())], dtype=numpy.float64)


def _growth(runs, network, change, key):
    """log10(key final / key at epoch 0) per seed."""
    return numpy.log10(_values(runs, network, change, f"{key}_final") / _values(runs, network, change, f"{key}_0"))


def claims(runs, smoke):
    """The paper's claims judged on the per-seed numbers ``runs[(network, change)][seed]``."""
    def accuracy(network, better, worse, statement):
        a, b = (100 * _values(runs, network, change, "test_accuracy_at_best_val") for change in (better, worse))
        return stats.paired(statement, a, b, "greater", smoke=smoke,
                            effect=f"test accuracy at the best validation epoch, {better} - {worse} (points)")

    result = [
        accuracy("fcn", "gradient perturbation", "no change",
                 "[Dworakowski 2019, table 3]: the FCN with the gradient perturbation layer marginally "
                 "outperforms the stock FCN (13.84% vs 13.71%)."),
        accuracy("fcn", "no change", "dropout",
                 "[Dworakowski 2019, table 3]: the stock FCN outperforms the FCN with dropout (13.71% vs "
                 "11.90%)."),
        accuracy("resnet", "gradient perturbation", "no change",
                 "[Dworakowski 2019, table 3]: the ResNet with the gradient perturbation layer marginally "
                 "outperforms the stock ResNet (27.24% vs 27.11%)."),
    ]
    for network in CHANGES:
        name = "ResNet" if network == "resnet" else "FCN (fig. 13 shows the ResNet only)"
        result.append(stats.paired(
            f"[Dworakowski 2019, fig. 13], {name}: with the layer, sigma_min of the tracked layer rises over "
            "the epochs rather than tending towards zero; judged scale-free, as sigma_min / ||W||_F, "
            "against the same seed without the layer.",
            _growth(runs, network, "gradient perturbation", "relative_sigma_min"),
            _growth(runs, network, "no change", "relative_sigma_min"), "greater", smoke=smoke,
            effect="log10(sigma_min / ||W||_F, final over initial), with - without the layer"))
        result.append(stats.paired(
            f"[Dworakowski 2019, fig. 13], {name}: with the layer the conditioning stays stable over the "
            "epochs (kappa grows less than without the layer).",
            _growth(runs, network, "gradient perturbation", "kappa"), _growth(runs, network, "no change", "kappa"),
            "less", smoke=smoke, effect="log10(kappa final / kappa initial), with - without the layer"))
    return result


def _geometric_mean(values):
    return float(numpy.exp(numpy.mean(numpy.log(values))))


def _summary_rows(runs):
    rows = []
    for network, changes in CHANGES.items():
        for change in changes:
            group = list(runs[network, change].values())
            mean = lambda key: float(numpy.mean([run[key] for run in group]))  # noqa: E731
            geometric = lambda key: _geometric_mean([run[key] for run in group])  # noqa: E731
            noise = [run["weight_noise"] for run in group if run["weight_noise"]]
            rows.append({"network": network, "change": change, "seeds": len(group),
                         **{key: mean(key) for key in ("test_accuracy_at_best_val", "final_test_accuracy",
                                                       "best_val_accuracy")},
                         **{key: geometric(key) for key in ("kappa_0", "kappa_final", "relative_sigma_min_0",
                                                            "relative_sigma_min_final")},
                         "frobenius_growth_decades": mean("frobenius_growth_decades"),
                         "weight_noise_0": float(numpy.median([n["initial"] for n in noise])) if noise else None,
                         "weight_noise_final": float(numpy.median([n["final"] for n in noise])) if noise else None})
    return rows


def finish(settings, trials):
    """records.csv, summary.csv (in the report), the two figures, the claims and the departures."""
    runs = {}
    for trial_ in trials:
        runs.setdefault((trial_.condition["network"], trial_.condition["change"]), {})[trial_.seed] = _run(trial_)
    rows = _summary_rows(runs)
    records = [{**t.condition, "seed": t.seed, **row} for t in trials for row in t.records["epochs"]]
    noise = [run["weight_noise"][when] for group in runs.values() for run in group.values()
             if run["weight_noise"] for when in ("initial", "final")]
    growth = {change: float(numpy.mean(_values(runs, "resnet", change, "frobenius_growth_decades")))
              for change in CHANGES["resnet"]}
    n = settings["seeds"]
    return engine.Results(
        title="Gradient perturbation layer: accuracy and conditioning", paper=PAPER,
        claims=claims(runs, settings["quick"]),
        tables=[engine.Table("records.csv", "One row per network, change, seed and epoch.", records,
                             RECORD_COLUMNS),
                engine.Table("summary.csv", "Accuracies and the tracked layer per network and change "
                             "([Dworakowski 2019, table 3]).", rows, SUMMARY_COLUMNS, in_report=True)],
        figures=[engine.Figure("accuracy.png", "Validation accuracy over epochs: the median over seeds, the "
                               "band from the worst to the best seed", _accuracy_figure(records),
                               f"median and range over {n} seeds"),
                 engine.Figure("singular_values_vs_epochs.png", "Tracked layer: sigma_max and sigma_min, "
                               "sigma_min / ||W||_F and the condition number over epochs, geometric mean over "
                               "seeds ([Dworakowski 2019, fig. 13])", _spectrum_figure(records),
                               engine.over_seeds(n))],
        summary={"table": rows},
        notes=["The paper trains on ImageNet-scale images with an FCN and ResNet18; here digits (8x8, 1797 "
               "images, a new stratified train / validation / test split per seed) with a two-hidden-layer FCN "
               "and a two-block residual net.",
               "The accuracy judged is the test accuracy at the epoch of best validation accuracy (validation "
               "and test are separate splits). The paper's 'max accuracy' is the best validation accuracy "
               "over the epochs, a maximum that favours noisy runs; it is in the table, not judged.",
               "The layer adds N(0, (s std(g))^2) noise to the gradient g of the activations that flow back "
               "through it, not to the weight gradient dW as [Dworakowski 2019, eq. 21] writes. The noise "
               "that reaches the tracked weight gradient, std(dW with - dW without) / std(dW without) on the "
               f"same weights and batch, measured here: {_span(noise)} (s = {settings['scale']:g}).",
               "The ResNet's tracked convolution feeds a BatchNorm, so its scale is free and noise inflates "
               "its norm: ||W||_F grows by " + ", ".join(f"{value:+.2f} decades {change}" for change, value
                                                          in growth.items())
               + ". Its sigma_min is therefore judged relative to ||W||_F, and its conditioning by kappa, "
               "both scale-free, each against the same seed without the layer.",
               "The FCN's dropout rate (0.25) and the optimizers' learning rates are chosen here; the paper "
               "does not state them for table 3."])


def _span(values):
    if not values:
        return "no trial with the layer"
    return f"{min(values):.2g} to {max(values):.2g} times (median {numpy.median(values):.2g})"


# --------------------------------------------------------------------- figures
def _mean_curve(records, network, change, key):
    rows = [r for r in records if r["network"] == network and r["change"] == change]
    epochs = sorted({r["epoch"] for r in rows})
    return epochs, [_geometric_mean([key(r) for r in rows if r["epoch"] == e]) for e in epochs]


def _accuracy_figure(records):
    figure, axes = figure_grid(1, len(CHANGES), panel=(5.6, 4.0))
    for ax, (network, changes) in zip(axes[0], CHANGES.items()):
        for change in changes:
            rows = [r for r in records if r["network"] == network and r["change"] == change and r["epoch"] > 0]
            epochs = sorted({r["epoch"] for r in rows})
            values = numpy.array([[r["val_accuracy"] for r in rows if r["epoch"] == e] for e in epochs])
            line, = ax.plot(epochs, 100 * numpy.median(values, axis=1), marker=".", label=change)
            ax.fill_between(epochs, 100 * values.min(axis=1), 100 * values.max(axis=1), color=line.get_color(),
                            alpha=0.2)
        ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title=TITLES[network], ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle("Validation accuracy with and without the gradient perturbation layer")
    figure.tight_layout()
    return figure


def _spectrum_figure(records):
    panels = [("sigma_max (solid), sigma_min (dashed), log", None),
              ("sigma_min / ||W||_F (log)", lambda r: r["sigma_min"] / r["frobenius"]),
              ("condition number (log)", lambda r: r["condition_number"])]
    figure, axes = figure_grid(len(CHANGES), len(panels), panel=(4.8, 3.8))
    for row, (network, changes) in zip(axes, CHANGES.items()):
        for change in (c for c in changes if c != "dropout"):
            epochs, top = _mean_curve(records, network, change, lambda r: r["sigma_max"])
            line, = row[0].plot(epochs, top, label=change)
            row[0].plot(*_mean_curve(records, network, change, lambda r: r["sigma_min"]), linestyle="--",
                        color=line.get_color())
            for ax, (_, key) in zip(row[1:], panels[1:]):
                ax.plot(*_mean_curve(records, network, change, key), color=line.get_color(), label=change)
        for ax, (label, _) in zip(row, panels):
            ax.set(xlabel="epoch", ylabel=label, yscale="log", title=TITLES[network])
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")
    figure.suptitle("Tracked layer with and without the gradient perturbation layer")
    figure.tight_layout()
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, trial=trial, finish=finish,
                               conditions=lambda settings: [{"network": network, "change": change}
                                                            for network, changes in CHANGES.items()
                                                            for change in changes])
