"""Pruning the units of a first fully connected layer by magnitude, frame potential or at random:
papers/002 section 3.1, figure 2.

Two networks learn scikit-learn's digits (the paper's LeNet and Conv-2 on CIFAR-10, scaled down):

- MLP: Linear(64, 300) ReLU Linear(300, 100) ReLU Linear(100, 10) (LeNet's 300-100-10 classifier);
- conv net: Conv(1, C, 3) ReLU Conv(C, C, 3) ReLU MaxPool 2, then Linear(16 C, 256) ReLU Linear(256, 256)
  ReLU Linear(256, 10) (Conv-2's 64, 64, pool and 256, 256, 10 with C channels).

After training, the units of the first fully connected layer are removed greedily, without retraining,
in the orders of minidl.analysis.pruning: smallest norm first (max_magnitude), largest norm first
(min_magnitude), smallest or largest contribution to the frame potential first (max_frame_potential,
min_frame_potential), and at random (5 orders). The test accuracy is measured after each number of
units removed. For the conv net the convolutional features are computed once and the classifier is
pruned on them. Every network is trained from --seeds seeds; curves and claims average over them.

Writes into --out:
    curves.csv                   one row per network, seed, criterion and number of units removed
    summary.csv                  accuracy after removing 0, 25, 50 and 75% of the units, and the mean
                                 over the whole curve, per network and criterion
    pruning.png                  accuracy vs units pruned, one panel per network (figure 2)
    summary.json, report.md      the settings, the table, and the paper's claims judged
"""
import numpy
from tqdm import tqdm

import minidl
from data_tools import load_digits
from minidl import backend, nn, optim, train
from minidl.analysis import plots, pruning
from minidl.autograd import Tensor, no_grad
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import HOLDS, Claim, describe_noise, judge, standard_error, write_report

NAME = "pruning"
HELP = "accuracy vs units pruned by magnitude, frame potential and at random in the first FC layer of an " \
       "MLP and a conv net (papers/002 section 3.1)"
PAPER = ("papers/002_d9f7307f08392869.txt (Heitmann, \"Sources of Redundancy in Neural Networks\"), "
         "section 3.1, figure 2")
NETWORKS = {"mlp": "MLP 64-300-100-10", "conv": "conv net (2 conv + 256-256-10)"}
REPEATS = 5  # random orders per trained network, as the paper's 5 random experiments


def add_arguments(parser):
    parser.add_argument("--seeds", type=int, default=3, help="trainings per network")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--channels", type=int, default=32, help="channels C of the conv net")
    parser.add_argument("--points", type=int, default=31, help="numbers of units removed per curve")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=32)


def build(network, channels=32):
    """(features, classifier) of the network: features maps (N, 1, 8, 8) to the classifier's input; its
    first Linear, at index 0 of the classifier, is the layer pruned."""
    if network == "mlp":
        return nn.Sequential(nn.Flatten()), nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 100),
                                                          nn.ReLU(), nn.Linear(100, 10))
    features = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten())
    classifier = nn.Sequential(nn.Linear(16 * channels, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                               nn.Linear(256, 10))
    return features, classifier


def features_of(features, X, batch_size=512):
    """features(X) in evaluation mode, as a host float32 array (computed once, then pruned on)."""
    features.eval()
    with no_grad():
        parts = [backend.asnumpy(features(Tensor(backend.to_device(X[i:i + batch_size]))).data)
                 for i in range(0, len(X), batch_size)]
    return numpy.concatenate(parts)


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(seed=args.seed)
    seeds, epochs, channels, points = (2, 4, 8, 6) if args.quick else \
        (args.seeds, args.epochs, args.channels, args.points)
    rows, accuracies = [], []
    bar = tqdm(total=len(NETWORKS) * seeds, desc=NAME, unit="network", disable=not args.progress)
    for network in NETWORKS:
        for s in range(seeds):
            minidl.manual_seed(args.seed + s)
            features, classifier = build(network, channels)
            model = nn.Sequential(features, classifier)
            optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
            train.fit(model, nn.functional.cross_entropy, optimizer, *data.train, epochs, args.batch_size,
                      progress=args.progress)
            X_test = features_of(features, data.test[0])
            units = classifier[0].out_features
            counts = numpy.unique(numpy.linspace(0, units - 1, points).round().astype(numpy.int64))
            curves = pruning.pruning_curves(classifier, 0, X_test, data.test[1], counts=counts,
                                            repeats=REPEATS, seed=args.seed + s)
            for criterion, curve in curves.items():
                rows += [{"network": network, "seed": s, "criterion": criterion, "units_pruned": int(n),
                          "fraction_pruned": n / units, "accuracy": float(a), "random_std": float(d)}
                         for n, a, d in zip(curve["units"], curve["accuracy"], curve["std"])]
            accuracies.append(train.evaluate(model, nn.functional.cross_entropy, *data.test)["accuracy"])
            bar.update()
    bar.close()

    table = _table(rows)
    claims = _claims(rows)
    folder.csv("curves.csv", rows)
    folder.csv("summary.csv", table)
    folder.figure("pruning.png", _figure(rows))
    settings = {"data": f"scikit-learn digits, {len(data.train[0])} train / {len(data.test[0])} test "
                        f"(split seed {args.seed}); accuracies on the test set",
                "networks": f"{NETWORKS['mlp']}; conv net with C = {channels}, first FC layer 256 units",
                "training": f"SGD lr {args.lr:g}, momentum 0.9, batch {args.batch_size}, {epochs} epochs, "
                            f"{seeds} seed(s) per network",
                "test accuracy before pruning": ", ".join(f"{a:.4f}" for a in accuracies),
                "random orders per network": REPEATS, "points per curve": points}
    folder.json("summary.json", {"settings": settings, "table": table,
                                 "claims": [c.as_dict() for c in claims]})
    write_report(
        folder, "Pruning units by magnitude, frame potential and at random", PAPER, settings,
        [("Test accuracy after removing a fraction of the first FC layer's units, and its mean over the "
          "whole curve (mean over training seeds; random: also over the 5 orders).", table)],
        [("pruning.png", "Test accuracy vs units pruned in the first fully connected layer, mean over "
                         "training seeds; random: mean and +-1 std over seeds and orders (papers/002 "
                         "figure 2)")],
        claims,
        notes=["The paper prunes LeNet and Conv-2 trained on CIFAR-10; here an MLP of LeNet's classifier "
               "shape and a two-convolution net with Conv-2's classifier, on digits.",
               "The paper trains Conv-2 with Adam; minidl has SGD only, so both nets use SGD with momentum.",
               "Differences between criteria are judged on the mean accuracy over the whole curve, paired by "
               "training seed, against twice its standard error (inconclusive with a single seed)."])
    print(f"{NAME}: {sum(c.verdict == HOLDS for c in claims)} of {len(claims)} claims hold; "
          f"wrote {folder.path}")
    return {"table": table, "claims": [c.as_dict() for c in claims]}


def _mean_accuracy(rows, network, criterion):
    """(seeds,) mean accuracy over the whole pruning curve, per training seed."""
    seeds = sorted({r["seed"] for r in rows if r["network"] == network})
    return numpy.array([numpy.mean([r["accuracy"] for r in rows if r["network"] == network and r["seed"] == s
                                    and r["criterion"] == criterion]) for s in seeds])


def _table(rows):
    table = []
    for network in NETWORKS:
        for criterion in pruning.CRITERIA:
            group = [r for r in rows if r["network"] == network and r["criterion"] == criterion]
            fractions = sorted({r["fraction_pruned"] for r in group})
            row = {"network": network, "criterion": criterion}
            for target in (0.0, 0.25, 0.5, 0.75):
                nearest = min(fractions, key=lambda f: abs(f - target))
                row[f"accuracy_{round(100 * target)}%_pruned"] = float(numpy.mean(
                    [r["accuracy"] for r in group if r["fraction_pruned"] == nearest]))
            row["mean_accuracy_over_curve"] = float(_mean_accuracy(rows, network, criterion).mean())
            table.append(row)
    return table


def _comparison(rows, network, better, worse, statement):
    a, b = _mean_accuracy(rows, network, better), _mean_accuracy(rows, network, worse)
    differences = 100 * (a - b)
    mean, noise = float(differences.mean()), 2 * standard_error(differences)
    return Claim(statement, judge(mean, noise),
                 f"{NETWORKS[network]}: mean accuracy over the curve {100 * a.mean():.2f}% ({better}) vs "
                 f"{100 * b.mean():.2f}% ({worse}); paired difference {mean:+.2f} points, 2 standard errors "
                 f"{describe_noise(noise)} over {len(a)} training seed(s).")


def _claims(rows):
    claims = []
    for network in NETWORKS:
        claims += [
            _comparison(rows, network, "max_magnitude", "max_frame_potential",
                        "Magnitude pruning performs better than frame-potential pruning."),
            _comparison(rows, network, "max_frame_potential", "random",
                        "Pruning that keeps the frame potential largest (max_fp) performs better than random "
                        "pruning."),
            _comparison(rows, network, "random", "min_frame_potential",
                        "Pruning that keeps the frame potential smallest (min_fp) can significantly damage "
                        "the network: it does worse than random pruning."),
        ]
    return claims


def _figure(rows):
    figure, axes = figure_grid(1, len(NETWORKS), panel=(6.4, 4.6))
    for ax, network in zip(axes[0], NETWORKS):
        curves = {}
        for criterion in pruning.CRITERIA:
            group = [r for r in rows if r["network"] == network and r["criterion"] == criterion]
            units = sorted({r["units_pruned"] for r in group})
            by = {n: [r for r in group if r["units_pruned"] == n] for n in units}
            mean = numpy.array([numpy.mean([r["accuracy"] for r in by[n]]) for n in units])
            # spread over seeds and random orders: within-seed variance plus variance of the seed means
            std = numpy.sqrt([numpy.mean([r["random_std"] ** 2 for r in by[n]])
                              + numpy.var([r["accuracy"] for r in by[n]]) for n in units])
            curves[criterion] = {"units": numpy.array(units), "accuracy": mean,
                                 "std": std if criterion == "random" else numpy.zeros_like(std)}
        plots.pruning_curves(curves, ax=ax, title=f"first FC layer of the {NETWORKS[network]}")
    figure.suptitle("Accuracy vs units pruned, no retraining (papers/002 figure 2)")
    figure.tight_layout()
    return figure
