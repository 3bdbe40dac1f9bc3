"""The gradient perturbation layer on digits: papers/000 section 5.3.3, table 3 and figure 13.

nn.GradientPerturbation is the identity forward and adds N(0, (3 std(grad))^2) noise to the gradient
backward (papers/000 eq. 21). Two networks learn scikit-learn's digits with and without it:

- FCN: Linear(64, H) ReLU [change] Linear(H, H) ReLU [change] Linear(H, 10), the change being nothing,
  Dropout(0.25) or the perturbation layer (table 3's three FCN rows), trained with momentum 0.9 and
  weight decay 1e-3 as in table 2, where table 3's FCN rows come from. Tracked: the square hidden
  layer Linear(H, H).
- ResNet: Conv(1, C, 3) BatchNorm ReLU, then two residual blocks (Conv BatchNorm ReLU Conv BatchNorm
  plus the identity, then ReLU), each followed by the change (nothing or the perturbation layer),
  MaxPool 2, Linear(16 C, 10); momentum 0.9, weight decay 1e-4. Tracked: the first convolution of the
  first block, as the (C, 9 C) matrix that multiplies the im2col columns. Every tracked layer lies
  before a perturbation layer, so the noise reaches its gradient.

Every (network, change) is trained from --seeds seeds; seed s gives every change the same
initialization and data order, so the differences between changes are paired by seed and judged
against twice their standard error.

Writes into --out:
    records.csv                  one row per network, change, seed and epoch: the tracked layer's
                                 singular values, condition number and the training metrics
    runs.csv                     one row per training: best validation accuracy, test accuracy, and
                                 sigma_min and the condition number at epoch 0 and at the end
    summary.csv                  table 3's shape: best validation accuracy per network and change
    accuracy.png                 validation accuracy over epochs (median and range over seeds)
    singular_values_vs_epochs.png  sigma_max, sigma_min and conditioning over epochs (figure 13)
    summary.json, report.md      the settings, the table, and the paper's claims judged
"""
import numpy
from tqdm import tqdm

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import plots
from minidl.analysis.tracking import SpectrumTracker, records_to_csv
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import Claim, describe_noise, judge, standard_error, write_report

NAME = "gradient-perturbation"
HELP = "an FCN and a residual conv net on digits with and without the gradient perturbation layer " \
       "(papers/000 section 5.3.3)"
PAPER = ("papers/000_4d9c9d6cf1080a89.txt (Dworakowski & Rodriguez Bertorello, \"Why Your Neural Network "
         "is Still Singular and What You Can Do About It\"), section 5.3.3, table 3, figure 13")
DROPOUT = 0.25
CHANGES = {"fcn": ("no change", "dropout", "gradient perturbation"),
           "resnet": ("no change", "gradient perturbation")}
OPTIMIZERS = {"fcn": {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-3},
              "resnet": {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}}
TITLES = {"fcn": "FCN 64-H-H-10", "resnet": "residual conv net"}


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5, help="trainings per network and change")
    parser.add_argument("--hidden", type=int, default=128, help="width H of the FCN")
    parser.add_argument("--channels", type=int, default=16, help="channels C of the residual net")
    parser.add_argument("--scale", type=float, default=3.0, help="noise std over gradient std (eq. 21)")
    parser.add_argument("--batch-size", type=int, default=32)


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


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(seed=args.seed)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    inputs = {"fcn": flat, "resnet": lambda a: a}
    epochs, seeds = (3, 2) if args.quick else (args.epochs, args.seeds)
    hidden, channels = (32, 8) if args.quick else (args.hidden, args.channels)
    runs, records = [], []
    bar = tqdm(total=sum(map(len, CHANGES.values())) * seeds, desc=NAME, unit="training",
               disable=not args.progress)
    for network, changes in CHANGES.items():
        X, X_val, X_test = (inputs[network](part[0]) for part in (data.train, data.validation, data.test))
        for s in range(seeds):
            for change in changes:
                minidl.manual_seed(args.seed + s)
                model, tracked = (build_fcn(hidden, change, args.scale) if network == "fcn"
                                  else build_resnet(channels, change, args.scale))
                tracker = SpectrumTracker(layers=[tracked])
                optimizer = optim.SGD(model.parameters(), **OPTIMIZERS[network])
                history = train.fit(model, nn.functional.cross_entropy, optimizer, X, data.train[1], epochs,
                                    args.batch_size, validation=(X_val, data.validation[1]),
                                    callbacks=[tracker], progress=args.progress)
                test = train.evaluate(model, nn.functional.cross_entropy, X_test, data.test[1])
                first, last = tracker.history[0], tracker.history[-1]
                best = max(history, key=lambda h: h["val_accuracy"])
                runs.append({"network": network, "change": change, "seed": s,
                             "best_val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"],
                             "final_val_accuracy": history[-1]["val_accuracy"],
                             "test_accuracy": test["accuracy"],
                             "sigma_min_0": first["sigma_min"], "sigma_min_final": last["sigma_min"],
                             "condition_number_0": first["condition_number"],
                             "condition_number_final": last["condition_number"]})
                records += [{"network": network, "change": change, "seed": s, **row}
                            for row in tracker.history]
                bar.update()
    bar.close()

    table = _table(runs)
    claims = _claims(runs)
    folder.text("records.csv", records_to_csv(records))
    folder.csv("runs.csv", runs)
    folder.csv("summary.csv", table)
    folder.figure("accuracy.png", _accuracy_figure(records))
    folder.figure("singular_values_vs_epochs.png", _spectrum_figure(records))
    collapsed = {network: sum(r["best_val_accuracy"] < 0.5 for r in runs if r["network"] == network
                              and r["change"] == "gradient perturbation") for network in CHANGES}
    low, high = min(r["best_val_accuracy"] for r in table), max(r["best_val_accuracy"] for r in table)
    spread = max(r["best_val_accuracy_std"] for r in table)
    settings = {"epochs": epochs, "seeds": seeds, "FCN width H": hidden, "ResNet channels C": channels,
                "noise scale (eq. 21)": args.scale, "FCN dropout p": DROPOUT,
                "batch size": args.batch_size,
                "FCN optimizer": "SGD lr {lr}, momentum {momentum}, weight decay {weight_decay}".format(
                    **OPTIMIZERS["fcn"]),
                "ResNet optimizer": "SGD lr {lr}, momentum {momentum}, weight decay {weight_decay}".format(
                    **OPTIMIZERS["resnet"]),
                "data": f"scikit-learn digits, {len(X)} train / {len(X_val)} validation / "
                        f"{len(X_test)} test, split seed {args.seed}"}
    folder.json("summary.json", {"settings": settings, "table": table,
                                 "claims": [c.as_dict() for c in claims]})
    write_report(
        folder, "Gradient perturbation layer: accuracy and conditioning", PAPER, settings,
        [("Best validation accuracy (mean and std over seeds), test accuracy, and the tracked layer's "
          "sigma_min and condition number (geometric mean over seeds) at epoch 0 and at the end "
          "(papers/000 table 3).", table)],
        [("accuracy.png", "Validation accuracy over epochs: the median over seeds, the band from the worst "
                          "to the best seed"),
         ("singular_values_vs_epochs.png", "Tracked layer: sigma_max (solid) and sigma_min (dashed), "
          "and the condition number over epochs, geometric mean over seeds (papers/000 figure 13)")],
        claims,
        notes=["The paper trains on ImageNet-scale images with an FCN and ResNet18; here digits (8x8, "
               "1797 images) with a two-hidden-layer FCN and a two-block residual net.",
               f"Best validation accuracies here lie between {100 * low:.1f}% and {100 * high:.1f}% (the "
               f"paper's: 13-27%), and their spread over seeds reaches {100 * spread:.1f} points, so gains "
               f"of a tenth of a point, like the paper's, cannot be told from seed noise.",
               "'Best accuracy' is the best validation accuracy over the epochs, as the paper's "
               "'Max accuracy'; test accuracy at the last epoch is reported alongside."]
        + [f"{n} of the {seeds} {TITLES[network]} trainings with the layer stayed near chance (best "
           f"validation accuracy below 50%); they weigh on its mean."
           for network, n in collapsed.items() if n])
    fcn = {r["change"]: r for r in table if r["network"] == "fcn"}
    print(f"{NAME}: FCN best validation accuracy {100 * fcn['no change']['best_val_accuracy']:.2f}% "
          f"without, {100 * fcn['gradient perturbation']['best_val_accuracy']:.2f}% with the layer; "
          f"wrote {folder.path}")
    return {"table": table, "claims": [c.as_dict() for c in claims]}


def _geometric_mean(values):
    return float(numpy.exp(numpy.mean(numpy.log(values))))


def _table(runs):
    """One row per network and change: accuracies (mean, std) and the tracked layer's spectrum."""
    table = []
    for network, changes in CHANGES.items():
        for change in changes:
            group = [r for r in runs if r["network"] == network and r["change"] == change]
            best = [r["best_val_accuracy"] for r in group]
            table.append({"network": network, "change": change, "seeds": len(group),
                          "best_val_accuracy": float(numpy.mean(best)),
                          "best_val_accuracy_std": float(numpy.std(best)),
                          "best_val_accuracy_worst_seed": float(numpy.min(best)),
                          "test_accuracy": float(numpy.mean([r["test_accuracy"] for r in group])),
                          **{key: _geometric_mean([r[key] for r in group])
                             for key in ("sigma_min_0", "sigma_min_final", "condition_number_0",
                                         "condition_number_final")}})
    return table


def _paired(runs, network, change, key):
    """The values of ``key`` for (network, change), ordered by seed."""
    group = sorted((r for r in runs if r["network"] == network and r["change"] == change),
                   key=lambda r: r["seed"])
    return numpy.array([r[key] for r in group], dtype=numpy.float64)


def _difference_claim(statement, differences, describe):
    """A claim whose margin is the mean of paired differences, judged against 2 standard errors."""
    mean, noise = float(numpy.mean(differences)), 2 * standard_error(differences)
    evidence = f"{describe}; mean paired difference {mean:+.4g}, 2 standard errors {describe_noise(noise)} " \
               f"over {len(differences)} seed(s)."
    return Claim(statement, judge(mean, noise), evidence)


def _accuracy_claim(runs, network, better, worse, statement):
    a, b = (_paired(runs, network, change, "best_val_accuracy") for change in (better, worse))
    describe = (f"best validation accuracy {100 * a.mean():.2f}% ({better}) vs {100 * b.mean():.2f}% "
                f"({worse}), higher in {int((a > b).sum())} and lower in {int((a < b).sum())} of {len(a)} "
                f"seeds (differences in points)")
    return _difference_claim(statement, 100 * (a - b), describe)


def _log_ratio(runs, network, change, key):
    final, initial = (_paired(runs, network, change, f"{key}_{when}") for when in ("final", "0"))
    return numpy.log10(final / initial)


def _claims(runs):
    claims = [
        _accuracy_claim(runs, "fcn", "gradient perturbation", "no change",
                        "Table 3: the FCN with the gradient perturbation layer marginally outperforms the "
                        "stock FCN (13.84% vs 13.71%)."),
        _accuracy_claim(runs, "fcn", "no change", "dropout",
                        "Table 3: the stock FCN outperforms the FCN with dropout (13.71% vs 11.90%)."),
        _accuracy_claim(runs, "resnet", "gradient perturbation", "no change",
                        "Table 3: the ResNet with the gradient perturbation layer marginally outperforms "
                        "the stock ResNet (27.24% vs 27.11%)."),
    ]
    for network in CHANGES:
        name = "ResNet" if network == "resnet" else "FCN (figure 13 shows the ResNet only)"
        rise = _log_ratio(runs, network, "gradient perturbation", "sigma_min")
        claims.append(_difference_claim(
            f"Figure 13, {name}: with the layer, sigma_min of the tracked layer increases over the epochs "
            f"rather than tending towards zero.", rise,
            f"log10(sigma_min final / sigma_min at epoch 0) with the layer: {rise.mean():+.3f} "
            f"(without: {_log_ratio(runs, network, 'no change', 'sigma_min').mean():+.3f})"))
        with_layer = _log_ratio(runs, network, "gradient perturbation", "condition_number")
        without = _log_ratio(runs, network, "no change", "condition_number")
        claims.append(_difference_claim(
            f"Figure 13, {name}: with the layer the conditioning stays stable over the epochs (it grows "
            f"less than without the layer).", without - with_layer,
            f"log10(kappa final / kappa at epoch 0): {with_layer.mean():+.3f} with the layer, "
            f"{without.mean():+.3f} without"))
    return claims


def _mean_records(records, network, change):
    """Records of the tracked layer averaged over seeds (geometric means), one per epoch."""
    rows = [r for r in records if r["network"] == network and r["change"] == change]
    averaged = []
    for epoch in sorted({r["epoch"] for r in rows}):
        group = [r for r in rows if r["epoch"] == epoch]
        averaged.append({"epoch": epoch, "layer": "tracked",
                         **{key: _geometric_mean([r[key] for r in group])
                            for key in ("sigma_max", "sigma_min", "condition_number")}})
    return averaged


def _accuracy_figure(records):
    figure, axes = figure_grid(1, len(CHANGES), panel=(5.6, 4.0))
    for ax, (network, changes) in zip(axes[0], CHANGES.items()):
        for change in changes:
            rows = [r for r in records
                    if r["network"] == network and r["change"] == change and r["epoch"] > 0]
            epochs = sorted({r["epoch"] for r in rows})
            values = numpy.array([[r["val_accuracy"] for r in rows if r["epoch"] == e] for e in epochs])
            line, = ax.plot(epochs, 100 * numpy.median(values, axis=1), marker=".", label=change)
            ax.fill_between(epochs, 100 * values.min(axis=1), 100 * values.max(axis=1),
                            color=line.get_color(), alpha=0.2)
        ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title=TITLES[network], ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle("Validation accuracy with and without the gradient perturbation layer (papers/000 "
                    "table 3)")
    figure.tight_layout()
    return figure


def _spectrum_figure(records):
    figure, axes = figure_grid(len(CHANGES), 2, panel=(5.6, 4.0))
    for row, (network, changes) in zip(axes, CHANGES.items()):
        runs = {change: _mean_records(records, network, change) for change in changes
                if change != "dropout"}
        plots.singular_values_vs_epochs(runs, axes=row)
        for ax in row:
            ax.set_title(f"{TITLES[network]}: {ax.get_title()}", fontsize="medium")
    figure.suptitle("Tracked layer with and without the gradient perturbation layer, geometric mean over "
                    "seeds (papers/000 figure 13)")
    figure.tight_layout()
    return figure

