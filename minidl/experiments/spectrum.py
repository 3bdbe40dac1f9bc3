"""Dropout, momentum and the conditioning of hidden layers: papers/000 sections 5.3.1-5.3.2 on digits.

An MLP 64-H-H-10 (ReLU, dropout p after each hidden ReLU) is trained on scikit-learn's digits
(8x8 images flattened to 64) for every p in {0, 0.25, 0.5, 0.75}, with plain SGD and with momentum 0.9
plus weight decay 1e-3. A SpectrumTracker follows both hidden layers ('0' and '3') every epoch.

Writes into --out:
    spectrum.csv                 one row per setting, epoch and layer: singular values, condition
                                 number, stable rank, train/validation metrics, the whole spectrum
    summary.csv, summary.md      best validation accuracy per setting (the shape of papers/000 tables 1-2)
    summary.json                 the same with the settings and test accuracies
    conditioning_vs_accuracy.png, conditioning_change_vs_accuracy_change.png,
    test_error_vs_conditioning.png     rows: hidden layers; columns: optimizer; a line per dropout p
    singular_values_vs_epochs.png      sigma_max, sigma_min and kappa of layer '3' per epoch
    spectrum_snapshots.png             the spectrum of layer '0' over epochs (p = 0 and p = 0.5)
    esd.png                            ESD of layer '0' against Marchenko-Pastur, at initialization and
                                       after training (plain SGD, p = 0)
"""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import plots
from minidl.analysis.tracking import SpectrumTracker, records_to_csv
from minidl.experiments.output import RunFolder

NAME = "spectrum"
HELP = "track the conditioning of hidden layers under dropout and momentum (papers/000 section 5.3)"
DROPOUTS = (0.0, 0.25, 0.5, 0.75)
OPTIMIZERS = {"sgd": {"momentum": 0.0, "weight_decay": 0.0},
              "momentum": {"momentum": 0.9, "weight_decay": 1e-3}}
OPTIMIZER_TITLES = {"sgd": "no momentum or weight decay", "momentum": "momentum 0.9, weight decay 1e-3"}
HIDDEN_LAYERS = ("0", "3")


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=32)


def build_model(hidden, p):
    """Linear(64, H) ReLU Dropout(p) Linear(H, H) ReLU Dropout(p) Linear(H, 10); hidden layers '0', '3'."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 10))


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(seed=args.seed)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    (X, y), (X_val, y_val), (X_test, y_test) = [(flat(X), y) for X, y in
                                                (data.train, data.validation, data.test)]
    epochs = 3 if args.quick else args.epochs
    runs, results, initial, trained = {}, [], None, None
    for optimizer_name, hyper in OPTIMIZERS.items():
        for p in DROPOUTS:
            minidl.manual_seed(args.seed)
            model = build_model(args.hidden, p)
            if optimizer_name == "sgd" and p == 0:
                initial = model[0].weight.detach().numpy().copy()
            tracker = SpectrumTracker(layers=HIDDEN_LAYERS)
            optimizer = optim.SGD(model.parameters(), lr=args.lr, **hyper)
            history = train.fit(model, nn.functional.cross_entropy, optimizer, X, y, epochs,
                                args.batch_size, validation=(X_val, y_val), callbacks=[tracker],
                                progress=args.progress)
            if optimizer_name == "sgd" and p == 0:
                trained = model[0].weight.detach().numpy().copy()
            test = train.evaluate(model, nn.functional.cross_entropy, X_test, y_test)
            runs[(optimizer_name, p)] = tracker.history
            best = max(history, key=lambda h: h["val_accuracy"])
            final = {layer: tracker.records(layer)[-1]["condition_number"] for layer in HIDDEN_LAYERS}
            results.append({"optimizer": optimizer_name, **hyper, "dropout": p,
                            "best_val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"],
                            "final_val_accuracy": history[-1]["val_accuracy"],
                            "test_accuracy": test["accuracy"],
                            **{f"final_condition_number_{layer}": kappa for layer, kappa in final.items()}})

    rows = [{"optimizer": name, **OPTIMIZERS[name], "dropout": p, **record}
            for (name, p), records in runs.items() for record in records]
    folder.text("spectrum.csv", records_to_csv(rows))
    folder.csv("summary.csv", results)
    folder.text("summary.md", _markdown(results, epochs))
    _figures(folder, runs, initial, trained)
    summary = {"epochs": epochs, "hidden": args.hidden, "lr": args.lr, "batch_size": args.batch_size,
               "seed": args.seed, "dropouts": list(DROPOUTS), "optimizers": OPTIMIZERS,
               "tracked_layers": list(HIDDEN_LAYERS), "results": results}
    folder.json("summary.json", summary)
    best = max(results, key=lambda r: r["best_val_accuracy"])
    print(f"spectrum: {len(results)} settings x {epochs} epochs; best validation accuracy "
          f"{100 * best['best_val_accuracy']:.2f}% ({best['optimizer']}, dropout {best['dropout']}); "
          f"wrote {folder.path}")
    return summary


def _markdown(results, epochs):
    lines = [f"# Best validation accuracy per setting (MLP on digits, {epochs} epochs)", ""]
    for number, name in enumerate(OPTIMIZERS, 1):
        lines += [f"Table {number}. {OPTIMIZER_TITLES[name]}", "",
                  "| Network dropout probability | Max accuracy (%) | Test accuracy (%) | "
                  "final kappa layer 0 | final kappa layer 3 |",
                  "|---|---|---|---|---|"]
        for r in (r for r in results if r["optimizer"] == name):
            label = "Baseline - no dropout" if r["dropout"] == 0 else f"{r['dropout']:g}"
            lines.append(f"| {label} | {100 * r['best_val_accuracy']:.2f} | {100 * r['test_accuracy']:.2f} | "
                         f"{r['final_condition_number_0']:.3g} | {r['final_condition_number_3']:.3g} |")
        lines.append("")
    return "\n".join(lines)


def _grid(rows, columns, size=(5.2, 3.8)):
    figure = Figure(figsize=(size[0] * columns, size[1] * rows))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _by_dropout(runs, optimizer_name):
    return {f"p = {p:g}": runs[(optimizer_name, p)] for p in DROPOUTS}


def _layer_grid(folder, name, draw, suptitle):
    """A figure with a row per hidden layer and a column per optimizer, a line per dropout."""
    figure, axes = _grid(len(HIDDEN_LAYERS), len(OPTIMIZERS))
    for i, layer in enumerate(HIDDEN_LAYERS):
        for j, optimizer_name in enumerate(OPTIMIZERS):
            draw(axes[i, j], layer, optimizer_name)
            axes[i, j].set_title(f"layer {layer}: {OPTIMIZER_TITLES[optimizer_name]}", fontsize="medium")
    figure.suptitle(suptitle)
    figure.tight_layout()
    folder.figure(name, figure)


def _figures(folder, runs, initial, trained):
    _layer_grid(folder, "conditioning_vs_accuracy.png",
                lambda ax, layer, o: plots.conditioning_vs_accuracy(_by_dropout(runs, o), layer, ax=ax),
                "Conditioning vs validation accuracy (papers/000 figures 7, 11)")
    _layer_grid(folder, "conditioning_change_vs_accuracy_change.png",
                lambda ax, layer, o: plots.conditioning_change_vs_accuracy_change(
                    _by_dropout(runs, o), layer, ax=ax),
                "Change in conditioning vs change in accuracy, epoch to epoch (papers/000 figure 8)")
    _layer_grid(folder, "test_error_vs_conditioning.png",
                lambda ax, layer, o: plots.test_error_vs_conditioning(
                    _by_dropout(runs, o), layer, error=lambda r: 100 * (1 - r["val_accuracy"]),
                    ylabel="validation error (%)", ax=ax),
                "Validation error vs conditioning (papers/000 figures 16-17)")

    figure, axes = _grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        plots.singular_values_vs_epochs(_by_dropout(runs, optimizer_name), "3", axes=axes[i])
        for ax in axes[i]:
            ax.set_title(f"layer 3, {OPTIMIZER_TITLES[optimizer_name]}\n{ax.get_title()}",
                         fontsize="medium")
    figure.suptitle("Singular values and conditioning vs epochs (papers/000 figures 9, 12)")
    figure.tight_layout()
    folder.figure("singular_values_vs_epochs.png", figure)

    figure, axes = _grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        for j, p in enumerate((0.0, 0.5)):
            plots.spectrum_snapshots(runs[(optimizer_name, p)], "0", ax=axes[i, j],
                                     title=f"layer 0, p = {p:g}, {OPTIMIZER_TITLES[optimizer_name]}")
    figure.suptitle("Spectrum of the first hidden layer over epochs")
    figure.tight_layout()
    folder.figure("spectrum_snapshots.png", figure)

    figure, axes = _grid(1, 2)
    plots.esd_with_marchenko_pastur(initial, ax=axes[0, 0])
    axes[0, 0].set_title(f"at initialization: {axes[0, 0].get_title()}", fontsize="medium")
    plots.esd_with_marchenko_pastur(trained, ax=axes[0, 1])
    axes[0, 1].set_title(f"after training: {axes[0, 1].get_title()}", fontsize="medium")
    rows, columns = initial.shape
    gram = "W^T W" if rows >= columns else "W W^T"
    figure.suptitle(f"ESD of layer 0 (X = {gram} / {max(rows, columns)}) against Marchenko-Pastur, "
                    f"plain SGD, p = 0")
    figure.tight_layout()
    folder.figure("esd.png", figure)
