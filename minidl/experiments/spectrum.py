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
import numpy

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import plots
from minidl.analysis.tracking import SpectrumTracker, records_to_csv
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Claim, judge, write_report

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
    _report(folder, summary, runs)
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


def _by_dropout(runs, optimizer_name):
    return {f"p = {p:g}": runs[(optimizer_name, p)] for p in DROPOUTS}


def _layer_grid(folder, name, draw, suptitle):
    """A figure with a row per hidden layer and a column per optimizer, a line per dropout."""
    figure, axes = figure_grid(len(HIDDEN_LAYERS), len(OPTIMIZERS))
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

    figure, axes = figure_grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        plots.singular_values_vs_epochs(_by_dropout(runs, optimizer_name), "3", axes=axes[i])
        for ax in axes[i]:
            ax.set_title(f"layer 3, {OPTIMIZER_TITLES[optimizer_name]}\n{ax.get_title()}",
                         fontsize="medium")
    figure.suptitle("Singular values and conditioning vs epochs (papers/000 figures 9, 12)")
    figure.tight_layout()
    folder.figure("singular_values_vs_epochs.png", figure)

    figure, axes = figure_grid(len(OPTIMIZERS), 2)
    for i, optimizer_name in enumerate(OPTIMIZERS):
        for j, p in enumerate((0.0, 0.5)):
            plots.spectrum_snapshots(runs[(optimizer_name, p)], "0", ax=axes[i, j],
                                     title=f"layer 0, p = {p:g}, {OPTIMIZER_TITLES[optimizer_name]}")
    figure.suptitle("Spectrum of the first hidden layer over epochs")
    figure.tight_layout()
    folder.figure("spectrum_snapshots.png", figure)

    figure, axes = figure_grid(1, 2)
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


def _report(folder, summary, runs):
    """report.md: tables 1-2 and the findings of papers/000 sections 5.3.1-5.3.2 judged on this run."""
    results, claims = summary["results"], []
    for number, name in enumerate(OPTIMIZERS, 1):
        best = [r["best_val_accuracy"] for r in results if r["optimizer"] == name]  # in DROPOUTS order
        verdict = HOLDS if all(a > b for a, b in zip(best, best[1:])) else \
            DOES_NOT_HOLD if max(best[1:]) > best[0] else INCONCLUSIVE
        accuracies = ", ".join(f"p = {p:g}: {100 * a:.2f}%" for p, a in zip(DROPOUTS, best))
        claims.append(Claim(
            f"Table {number} ({OPTIMIZER_TITLES[name]}): the baseline without dropout reaches the best "
            f"accuracy, followed by the dropout networks in order of increasing drop probability.", verdict,
            f"best validation accuracy {accuracies} (one training each; holds when strictly decreasing, "
            f"fails when a dropout network beats the baseline)."))
    rises, falls, layers = [], [], []  # decades sigma_max rose, sigma_min fell from epoch 0 to kappa's peak
    for records in runs.values():
        for layer in HIDDEN_LAYERS:
            rows = [r for r in records if r["layer"] == layer]
            first, peak = rows[0], max(rows, key=lambda r: r["condition_number"])
            if peak["condition_number"] > first["condition_number"]:
                rises.append(numpy.log10(peak["sigma_max"] / first["sigma_max"]))
                falls.append(-numpy.log10(peak["sigma_min"] / first["sigma_min"]))
                layers.append(layer)
    led = sum(f > r for f, r in zip(falls, rises))
    share = led / len(rises) if rises else float("nan")
    by_layer = ", ".join(
        f"layer {layer}: {sum(f > r for f, r, n in zip(falls, rises, layers) if n == layer)} of "
        f"{layers.count(layer)}" for layer in HIDDEN_LAYERS)
    medians = f"sigma_min {-numpy.median(falls):+.2f} decades, sigma_max {numpy.median(rises):+.2f}" \
        if rises else "none"
    claims.append(Claim(
        "Figures 9, 12: the bursts of conditioning come from sigma_min falling by orders of magnitude, not "
        "from sigma_max growing.", judge(share - 0.5, 1 / 6),
        f"from epoch 0 to the epoch of the highest condition number, sigma_min fell by more decades than "
        f"sigma_max rose in {led} of the {len(rises)} (setting, layer) pairs ({by_layer}; medians: "
        f"{medians}; holds above 2/3 of the pairs, fails below 1/3)."))
    pairs = [(name, layer) for name in OPTIMIZERS for layer in HIDDEN_LAYERS]
    final = {(r["optimizer"], r["dropout"], layer): r[f"final_condition_number_{layer}"] for r in results
             for layer in HIDDEN_LAYERS}
    higher = [final[name, DROPOUTS[-1], layer] > final[name, 0.0, layer] for name, layer in pairs]
    claims.append(Claim(
        "Section 5.3.1: dropout drives sigma_min down, so the conditioning ends worse with more dropout.",
        HOLDS if all(higher) else DOES_NOT_HOLD if not any(higher) else INCONCLUSIVE,
        f"final condition number at p = 0 and p = {DROPOUTS[-1]:g}: " + "; ".join(
            f"{name}, layer {layer}: {final[name, 0.0, layer]:.3g} and {final[name, DROPOUTS[-1], layer]:.3g}"
            for name, layer in pairs) + " (holds when higher with dropout in all four, fails in none)."))
    steps = []  # (|change of log10 kappa|, |change of validation accuracy|) between consecutive epochs
    for records in runs.values():
        for layer in HIDDEN_LAYERS:
            rows = [r for r in records if r["layer"] == layer and r["epoch"] >= 1]
            steps += [(abs(numpy.log10(b["condition_number"] / a["condition_number"])),
                       abs(b["val_accuracy"] - a["val_accuracy"])) for a, b in zip(rows, rows[1:])]
    if len(steps) >= 8:
        cut = numpy.quantile([k for k, _ in steps], 0.75)
        large = numpy.array([d for k, d in steps if k > cut])
        rest = numpy.array([d for k, d in steps if k <= cut])
        noise = 2 * numpy.hypot(large.std(ddof=1) / len(large) ** 0.5, rest.std(ddof=1) / len(rest) ** 0.5)
        claims.append(Claim(
            "Figure 8: accuracy tends not to change when the conditioning changes a lot.",
            judge(rest.mean() - large.mean(), noise),
            f"mean |change of validation accuracy| between consecutive epochs {100 * large.mean():.2f} "
            f"points when |change of log10 kappa| is in its top quarter (> {cut:.3g} decades), "
            f"{100 * rest.mean():.2f} points otherwise (2 standard errors {100 * noise:.2g}; {len(steps)} "
            f"epoch pairs pooled)."))
    figures = [("conditioning_vs_accuracy.png", "Conditioning vs validation accuracy (figures 7, 11)"),
               ("conditioning_change_vs_accuracy_change.png",
                "Change in conditioning vs change in accuracy (figure 8)"),
               ("test_error_vs_conditioning.png", "Validation error vs conditioning"),
               ("singular_values_vs_epochs.png",
                "sigma_max, sigma_min and kappa of layer 3 per epoch (figures 9, 12)"),
               ("spectrum_snapshots.png", "Spectrum of the first hidden layer over epochs"),
               ("esd.png", "ESD of layer 0 against Marchenko-Pastur, before and after training")]
    settings = {key: summary[key] for key in ("epochs", "hidden", "lr", "batch_size", "seed", "dropouts",
                                              "tracked_layers")}
    write_report(folder, "Dropout, momentum and the conditioning of hidden layers",
                 "papers/000_4d9c9d6cf1080a89.txt (Dworakowski & Rodriguez Bertorello), sections "
                 "5.3.1-5.3.2, tables 1-2, figures 7-12", settings,
                 [("Best validation accuracy and final condition numbers per setting (tables 1-2).",
                   results)],
                 figures, claims,
                 notes=["The paper trains FCNs on an ImageNet-scale task (best accuracies 5-14%); here an "
                        "MLP on scikit-learn's digits, one training per setting, so orderings within a "
                        "validation sample or two are noise."])
