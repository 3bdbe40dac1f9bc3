"""Pruning the units of a first fully connected layer by magnitude, frame potential or at random
[Heitmann 2019, sec. 3.1, fig. 2], on the experiment engine.

Two networks learn scikit-learn's digits (the paper's LeNet and Conv-2 on CIFAR-10, scaled down):

- MLP: Linear(64, 300) ReLU Linear(300, 100) ReLU Linear(100, 10) (LeNet's 300-100-10 classifier);
- conv net: Conv(1, C, 3) ReLU Conv(C, C, 3) ReLU MaxPool 2, then Linear(16 C, 256) ReLU Linear(256, 256)
  ReLU Linear(256, 10) (Conv-2's 64, 64, pool and 256, 256, 10 with C channels).

One trial per network and seed (the seed draws the data split, the initialization, the batch order and
the random pruning orders). After training, the units of the first fully connected layer are removed
greedily, without retraining, in the orders of minidl.analysis.pruning: smallest norm first
(max_magnitude), largest norm first (min_magnitude), smallest or largest contribution to the frame
potential first (max_frame_potential, min_frame_potential), and at random (5 orders). The test accuracy is
measured after each number of units removed. For the conv net the convolutional features are computed
once and the classifier is pruned on them. The criteria are compared within each trained network, so
their differences are paired by seed.

Writes into --out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
    curves.csv          one row per network, seed, criterion and number of units removed
    table.csv           accuracy after removing 0, 25, 50 and 75 % of the units, and the mean over the
                        whole curve, per network and criterion (means over seeds)
    pruning.png         accuracy vs units pruned, one panel per network (fig. 2)
"""
import numpy

import minidl
from data_tools import load_digits
from minidl import backend, nn, optim, train
from minidl.analysis import plots, pruning
from minidl.autograd import Tensor, no_grad
from minidl.experiments import engine, stats
from minidl.experiments.engine import Setting, positive
from minidl.experiments.output import figure_grid

NAME = "pruning"
HELP = "accuracy vs units pruned by magnitude, frame potential and at random in the first FC layer of an " \
       "MLP and a conv net [Heitmann 2019, sec. 3.1]"
NETWORKS = {"mlp": "MLP 64-300-100-10", "conv": "conv net (2 conv + 256-256-10)"}
REPEATS = 5  # random orders per trained network, as the paper's 5 random experiments

SETTINGS = (
    Setting("epochs", 20, "training epochs", check=positive),
    Setting("channels", 32, "channels C of the conv net", check=positive),
    Setting("points", 31, "numbers of units removed per curve, from 0 to all but one (at least 2)",
            check=lambda v: None if v >= 2 else "must be 2 or more"),
    Setting("lr", 0.02, "SGD learning rate (momentum 0.9)", check=positive),
    Setting("batch_size", 32, "rows per update", check=positive),
)
QUICK = {"seeds": 2, "epochs": 4, "channels": 8, "points": 6}

CURVE_COLUMNS = {"network": "mlp or conv", "seed": "seed of the trial", "criterion": "pruning order",
                 "units_pruned": "units removed from the first fully connected layer",
                 "fraction_pruned": "units removed / units of the layer",
                 "accuracy": "test accuracy after the removal (random: mean over the orders)",
                 "random_std": "standard deviation over the random orders (0 for the other criteria)"}
TABLE_COLUMNS = {"network": "mlp or conv", "criterion": "pruning order", "seeds": "trials averaged",
                 **{f"accuracy_{p}%_pruned": f"test accuracy with about {p} % of the units removed, mean over "
                                             f"seeds" for p in (0, 25, 50, 75)},
                 "mean_accuracy_over_curve": "test accuracy averaged over the whole curve, mean over seeds "
                                             "(the quantity the claims compare)"}


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


def conditions(settings):
    return [{"network": network} for network in NETWORKS]


def trial(settings, condition, seed):
    """Train one network from ``seed``; its pruning curve for every criterion."""
    data = load_digits(seed=seed)
    minidl.manual_seed(seed)
    features, classifier = build(condition["network"], settings["channels"])
    model = nn.Sequential(features, classifier)
    optimizer = optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9)
    train.fit(model, nn.functional.cross_entropy, optimizer, *data.train, settings["epochs"],
              settings["batch_size"], progress=False)
    accuracy = train.evaluate(model, nn.functional.cross_entropy, *data.test)["accuracy"]
    X_test = features_of(features, data.test[0])
    units = classifier[0].out_features
    counts = numpy.unique(numpy.linspace(0, units - 1, settings["points"]).round().astype(numpy.int64))
    curves = pruning.pruning_curves(classifier, 0, X_test, data.test[1], counts=counts, repeats=REPEATS,
                                    seed=seed)
    return {"units": units, "accuracy": float(accuracy),
            "curves": {criterion: {"units_pruned": [int(n) for n in curve["units"]],
                                   "accuracy": [float(a) for a in curve["accuracy"]],
                                   "random_std": [float(d) for d in curve["std"]]}
                       for criterion, curve in curves.items()}}


# --------------------------------------------------------------------- finishing
def mean_accuracy(trials, network, criterion):
    """Per seed (in seed order): the test accuracy averaged over the whole pruning curve."""
    return [float(numpy.mean(t.records["curves"][criterion]["accuracy"]))
            for t in engine.select(trials, network=network)]


COMPARISONS = (  # (better, worse, the paper's statement) [Heitmann 2019, sec. 3.1]
    ("max_magnitude", "max_frame_potential", "magnitude pruning performs better than frame-potential "
                                             "pruning."),
    ("max_frame_potential", "random", "pruning that keeps the frame potential largest (max_fp) performs "
                                      "better than random pruning."),
    ("random", "min_frame_potential", "pruning that keeps the frame potential smallest (min_fp) can "
                                      "significantly damage the network: it does worse than random pruning."),
)


def _claims(settings, trials):
    return [stats.paired(f"[Heitmann 2019, sec. 3.1, fig. 2] ({NETWORKS[network]}): {statement}",
                         100 * numpy.asarray(mean_accuracy(trials, network, better)),
                         100 * numpy.asarray(mean_accuracy(trials, network, worse)), "greater",
                         effect=f"accuracy over the curve, {better} - {worse} (points)",
                         smoke=settings["quick"])
            for network in NETWORKS for better, worse, statement in COMPARISONS]


def _rows(trials):
    return [{"network": t.condition["network"], "seed": t.seed, "criterion": criterion, "units_pruned": n,
             "fraction_pruned": n / t.records["units"], "accuracy": a, "random_std": d}
            for t in trials for criterion, curve in t.records["curves"].items()
            for n, a, d in zip(curve["units_pruned"], curve["accuracy"], curve["random_std"])]


def _table(rows, trials):
    table = []
    for network in NETWORKS:
        for criterion in pruning.CRITERIA:
            group = [r for r in rows if r["network"] == network and r["criterion"] == criterion]
            fractions = sorted({r["fraction_pruned"] for r in group})
            row = {"network": network, "criterion": criterion, "seeds": len({r["seed"] for r in group})}
            for target in (0.0, 0.25, 0.5, 0.75):
                nearest = min(fractions, key=lambda f: abs(f - target))
                row[f"accuracy_{round(100 * target)}%_pruned"] = float(numpy.mean(
                    [r["accuracy"] for r in group if r["fraction_pruned"] == nearest]))
            row["mean_accuracy_over_curve"] = float(numpy.mean(mean_accuracy(trials, network, criterion)))
            table.append(row)
    return table


def finish(settings, trials):
    """curves.csv, table.csv, pruning.png (means over seeds) and the claims judged."""
    rows = _rows(trials)
    table = _table(rows, trials)
    accuracies = {network: [t.records["accuracy"] for t in engine.select(trials, network=network)]
                  for network in NETWORKS}
    return engine.Results(
        title="Pruning units by magnitude, frame potential and at random",
        paper="[Heitmann 2019, sec. 3.1, fig. 2]",
        claims=_claims(settings, trials),
        tables=[engine.Table("table.csv", "Test accuracy after removing a fraction of the first FC layer's "
                             "units, and its mean over the whole curve (random: also over the 5 orders).",
                             table, TABLE_COLUMNS, in_report=True),
                engine.Table("curves.csv", "One row per network, seed, criterion and number of units removed.",
                             rows, CURVE_COLUMNS)],
        figures=[engine.Figure("pruning.png", "Test accuracy vs units pruned in the first fully connected "
                               "layer; random: mean and +-1 sd over seeds and orders (fig. 2)", _figure(rows),
                               engine.over_seeds(settings["seeds"]))],
        summary={"test_accuracy_before_pruning": {network: float(numpy.mean(values))
                                                  for network, values in accuracies.items()},
                 "table": table},
        notes=["The paper prunes LeNet and Conv-2 trained on CIFAR-10; here an MLP of LeNet's classifier "
               "shape and a two-convolution net with Conv-2's classifier, on digits.",
               "The paper trains Conv-2 with Adam; here both nets use SGD with momentum 0.9.",
               "The paper's figure 2 shows one trained network per model (random pruning averaged over 5 "
               f"orders); here {settings['seeds']} seed(s) per network, and each criterion is judged on the "
               "test accuracy averaged over the whole pruning curve, paired by seed against the other "
               "criterion on the same trained network."])


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
    figure.suptitle("Accuracy vs units pruned, no retraining [Heitmann 2019, fig. 2]")
    figure.tight_layout()
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, seeds=5)
