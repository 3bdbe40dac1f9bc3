"""EDJM spectra of digit classifiers: depth, dropout and ensembles (papers/004 figures 1, 4, 5).

On scikit-learn's digits, MLPs of 1 to 4 hidden layers sharing a fixed total of hidden units are trained
with and without dropout. In each of the two groups, the nets of 2, 3 and 4 hidden layers also form an
averaging ensemble (the mean of their logits, whose DJM is the mean of their DJMs), as in figure 5. For
every model, the Extended Data Jacobian Matrices of its logits on the validation set give a normalized
spectrum (figure 1) and the score of eq. 12, set against validation accuracy. Each model is trained for
several seeds; scores, accuracies and spectra are averaged over them.

Writes into --out: spectra.png (normalized spectra: depth and the ensemble; dropout against none),
scores.csv and scores.md (score and accuracy per model), runs.csv (one row per model and seed),
spectra.csv (the averaged normalized spectra) and summary.json (settings, table and findings).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import backend, nn, optim, train  # noqa: E402
from minidl.analysis import jacobian  # noqa: E402
from minidl.autograd import Tensor, no_grad  # noqa: E402
from minidl.experiments.output import RunFolder  # noqa: E402
from minidl.experiments.report import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Claim, write_report  # noqa: E402

NAME = "edjm"
HELP = "EDJM spectra and scores of digit MLPs of 1-4 hidden layers, with dropout, and their ensemble"
DEPTHS = (1, 2, 3, 4)
ENSEMBLE = (2, 3, 4)  # the depths averaged by the ensemble, as in papers/004 figure 5


def add_arguments(parser):
    parser.add_argument("--hidden-units", type=int, default=384, help="total over the hidden layers")
    parser.add_argument("--dropout", type=float, default=0.2, help="drop probability of the dropout nets")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3, help="trainings per model")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--percentile", type=float, default=90, help="the score's cut (eq. 12)")


def build(depth, hidden_units, dropout):
    """(Linear, ReLU[, Dropout]) x depth, every hidden layer hidden_units // depth wide, then Linear to 10."""
    width = hidden_units // depth
    layers, inputs = [], 64
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def _train(depth, dropout, seed, args, X, y, epochs):
    minidl.manual_seed(seed)
    model = build(depth, args.hidden_units, dropout)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    train.fit(model, nn.functional.cross_entropy, optimizer, X, y, epochs, args.batch_size,
              progress=args.progress)
    return model


def _logits(model, X):
    model.eval()
    with no_grad():
        return backend.asnumpy(model(Tensor(backend.to_device(X))).data)


def spectrum_and_score(djms, percentile):
    """(normalized spectrum, score) of the EDJMs made from DJMs (n, 10, d_in), computed in float64."""
    values = jacobian.edjm_singular_values(djms.transpose(1, 0, 2).astype(numpy.float64))
    return backend.asnumpy(jacobian.normalized_spectrum(values)), jacobian.edjm_score(values, percentile)


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(seed=args.seed)
    flat = lambda a: a.reshape(len(a), -1)
    (X, y), (X_val, y_val), (X_test, y_test) = ((flat(a), b) for a, b in
                                                (data.train, data.validation, data.test))
    epochs, seeds = (12, 1) if args.quick else (args.epochs, args.seeds)
    kinds = (("plain", 0.0), ("dropout", args.dropout))
    runs, spectra = [], {}
    for s in range(seeds):
        for kind, p in kinds:
            members = [_train(depth, p, args.seed + 1000 * s + depth, args, X, y, epochs)
                       for depth in DEPTHS]
            djms = [jacobian.djm(model, X_val) for model in members]
            outputs = [(_logits(model, X_val), _logits(model, X_test)) for model in members]
            models = [(f"{depth} x {args.hidden_units // depth}", depth, J, out)
                      for depth, J, out in zip(DEPTHS, djms, outputs)]
            chosen = [DEPTHS.index(depth) for depth in ENSEMBLE]
            models.append(("ensemble of 2-4", "ensemble", sum(djms[i] for i in chosen) / len(chosen),
                           [numpy.mean([outputs[i][part] for i in chosen], axis=0) for part in (0, 1)]))
            for label, depth, J, (val_logits, test_logits) in models:
                spectrum, score = spectrum_and_score(J, args.percentile)
                name = f"{label} dropout" if p else label
                spectra.setdefault(name, []).append(spectrum)
                runs.append({"model": name, "kind": kind, "hidden_layers": depth, "dropout": p,
                             "seed": s, "score": score,
                             "val_accuracy": float((val_logits.argmax(1) == y_val).mean()),
                             "test_accuracy": float((test_logits.argmax(1) == y_test).mean())})
    table = _table(runs)
    spectra = {name: numpy.mean(curves, axis=0) for name, curves in spectra.items()}
    findings = _findings(table)
    folder.csv("runs.csv", runs)
    folder.csv("scores.csv", table)
    folder.text("scores.md", _markdown(table, args.percentile))
    folder.csv("spectra.csv", [{"component": i, **{name: float(c[i]) for name, c in spectra.items()}}
                               for i in range(len(next(iter(spectra.values()))))])
    folder.figure("spectra.png", _figure(spectra, table, args.percentile))
    summary = {"hidden_units": args.hidden_units, "dropout": args.dropout, "epochs": epochs,
               "seeds": seeds, "lr": args.lr, "momentum": args.momentum, "batch_size": args.batch_size,
               "percentile": args.percentile, "seed": args.seed, "conditioning_set": "validation",
               "n": len(X_val), "d_in": X_val.shape[1], "ensemble_depths": list(ENSEMBLE),
               "table": table, "findings": findings}
    folder.json("summary.json", summary)
    _report(folder, summary)
    print(f"edjm: deeper nets score higher: {findings['deeper_scores_higher']}; ensembles score below "
          f"each member: {findings['ensembles_score_lower']}; wrote {folder.path}")
    return summary


def _table(runs):
    """Mean and standard deviation over seeds of score and accuracies, one row per model."""
    table = []
    for name in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == name]
        row = {key: group[0][key] for key in ("model", "kind", "hidden_layers", "dropout")}
        row["seeds"] = len(group)
        for key in ("score", "val_accuracy", "test_accuracy"):
            values = [r[key] for r in group]
            row[key] = float(numpy.mean(values))
            row[f"{key}_std"] = float(numpy.std(values))
        table.append(row)
    return table


def _findings(table):
    """Does the score grow with depth, fall for the ensemble, rise with dropout? (papers/004: all three)."""
    by = {(r["kind"], r["hidden_layers"]): r["score"] for r in table}
    findings = {}
    for kind in ("plain", "dropout"):
        scores = [by[kind, depth] for depth in DEPTHS]
        members = [by[kind, depth] for depth in ENSEMBLE]
        findings[f"{kind}_scores_by_depth"] = scores
        findings[f"{kind}_increasing_with_depth"] = all(a < b for a, b in zip(scores, scores[1:]))
        findings[f"{kind}_ensemble_score"] = by[kind, "ensemble"]
        findings[f"{kind}_ensemble_below_every_member"] = by[kind, "ensemble"] < min(members)
        findings[f"{kind}_ensemble_below_member_mean"] = by[kind, "ensemble"] < float(numpy.mean(members))
    findings["deeper_scores_higher"] = findings["plain_increasing_with_depth"]
    findings["ensembles_score_lower"] = (findings["plain_ensemble_below_every_member"]
                                         and findings["dropout_ensemble_below_every_member"])
    findings["dropout_higher_at_depths"] = [depth for depth in DEPTHS
                                            if by["dropout", depth] > by["plain", depth]]
    return findings


def _markdown(table, percentile):
    lines = [f"EDJM score (eq. 12, {percentile:g}th-percentile cut) on the validation set, mean +- std "
             f"over seeds", "", "| model | score | validation accuracy | test accuracy |",
             "|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['model']} | {r['score']:.2f} +- {r['score_std']:.2f} | "
                     f"{100 * r['val_accuracy']:.2f}% | {100 * r['test_accuracy']:.2f}% |")
    return "\n".join(lines) + "\n"


def _figure(spectra, table, percentile):
    """Top row: the leading components on a linear axis (where the score lives, papers/004 figure 1);
    bottom row: every component on a log axis."""
    rows = {r["model"]: r for r in table}
    name_of = {(r["kind"], r["hidden_layers"]): r["model"] for r in table}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(2, 2, figsize=(13, 9), sharey="row")
    k = len(next(iter(spectra.values())))
    kept = k - 1 - int(percentile / 100 * (k - 1))  # components above the score's cut

    def curve(column, name, **style):
        r = rows[name]
        for axis in axes[:, column]:
            axis.plot(spectra[name], linewidth=1.5, **style,
                      label=f"{name}: score {r['score']:.2f}, acc {100 * r['val_accuracy']:.1f}%")

    for color, depth in zip(colors, DEPTHS):
        curve(0, name_of["plain", depth], color=color)
        curve(1, name_of["plain", depth], color=color)
        curve(1, name_of["dropout", depth], color=color, linestyle="--")
    curve(0, name_of["plain", "ensemble"], color="k", linestyle="--")
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
                    "outputs (papers/004 figures 1, 4, 5)")
    return figure


def _report(folder, summary):
    """report.md: the score table and the findings of papers/004 sections 4.1, 4.4 and 4.5 judged here."""
    table, findings, kinds = summary["table"], summary["findings"], ("plain", "dropout")
    row = {(r["kind"], r["hidden_layers"]): r for r in table}
    scores = findings["plain_scores_by_depth"]
    dropout_higher = findings["dropout_higher_at_depths"]
    more_accurate = [d for d in DEPTHS if row["dropout", d]["val_accuracy"] > row["plain", d]["val_accuracy"]]
    best_member = {kind: max(row[kind, d]["val_accuracy"] for d in ENSEMBLE) for kind in kinds}
    margin = [row[kind, "ensemble"]["val_accuracy"] - best_member[kind] for kind in kinds]
    below = [findings[f"{kind}_ensemble_below_every_member"] for kind in kinds]
    above_mean = [not findings[f"{kind}_ensemble_below_member_mean"] for kind in kinds]

    def share(hits, count):
        return HOLDS if hits == count else DOES_NOT_HOLD if hits == 0 else INCONCLUSIVE

    by_depth = ", ".join(f"{d}: {row['plain', d]['score']:.2f} +- {row['plain', d]['score_std']:.2f}"
                         for d in DEPTHS)
    ensemble = "; ".join(f"{kind}: {row[kind, 'ensemble']['score']:.2f} against members "
                         + ", ".join(f"{row[kind, d]['score']:.2f}" for d in ENSEMBLE) for kind in kinds)
    accuracy = "; ".join(f"{kind}: {100 * row[kind, 'ensemble']['val_accuracy']:.2f}% against at best "
                         f"{100 * best_member[kind]:.2f}%" for kind in kinds)
    claims = [
        Claim("Figure 1, section 4.1: with a fixed total of hidden units, deeper networks have EDJMs with "
              "more dominant singular values (a higher score).",
              HOLDS if findings["plain_increasing_with_depth"] else
              DOES_NOT_HOLD if scores[-1] < scores[0] else INCONCLUSIVE,
              f"score without dropout by hidden layers {by_depth} (holds when strictly increasing, fails "
              f"when 4 layers score below 1)."),
        Claim("Figure 4, section 4.4: dropout networks have higher scores.",
              share(len(dropout_higher), len(DEPTHS)),
              f"dropout scores higher at {len(dropout_higher)} of {len(DEPTHS)} depths {dropout_higher}."),
        Claim("Section 4.4: dropout networks are also more accurate.", share(len(more_accurate), len(DEPTHS)),
              f"dropout more accurate on validation at {len(more_accurate)} of {len(DEPTHS)} depths "
              f"{more_accurate}."),
        Claim("Figure 5, section 4.5: the averaging ensemble scores below every one of its members.",
              HOLDS if all(below) else DOES_NOT_HOLD if all(above_mean) else INCONCLUSIVE,
              f"ensemble score {ensemble} (fails when above the members' mean in both groups)."),
        Claim("Section 4.5: the ensemble is more accurate than its members.",
              HOLDS if min(margin) > 0 else DOES_NOT_HOLD if max(margin) < 0 else INCONCLUSIVE,
              f"ensemble validation accuracy {accuracy} (holds when above the best member in both groups, "
              f"fails when below it in both)."),
    ]
    settings = {key: summary[key] for key in ("hidden_units", "dropout", "epochs", "seeds", "lr", "momentum",
                                              "batch_size", "percentile", "seed", "conditioning_set")}
    write_report(folder, "EDJM spectra of digit MLPs: depth, dropout and ensembles",
                 "papers/004_c034596440c9adfa.txt (Wang et al., \"Analysis of Deep Neural Networks with the "
                 "Extended Data Jacobian Matrix\"), sections 4.1, 4.4, 4.5, figures 1, 4, 5", settings,
                 [("EDJM score (eq. 12) and accuracies per model, mean and std over seeds.", table)],
                 [("spectra.png", "Normalized EDJM spectra: depth and the ensemble; with and without "
                                  "dropout")],
                 claims,
                 notes=["The paper uses MNIST, CIFAR-10 and TIMIT with layers of thousands of units; here "
                        "scikit-learn's digits with a few hundred hidden units in all."])
