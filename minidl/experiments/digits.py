"""Train a small ReLU network on scikit-learn's bundled digits and write its learning curves.

One trial per seed (the seed draws the data split, the initialization and the batch order). Writes into
--out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
history.csv (one row per seed and epoch) and curves.png (loss and accuracy, train and validation, of the
first seed). summary.json holds the final and best validation accuracy and the test accuracy of each
seed, and their means.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import nn, optim, train  # noqa: E402
from minidl.experiments import engine  # noqa: E402
from minidl.experiments.engine import Setting, positive, probability  # noqa: E402

NAME = "digits"
HELP = "train an MLP on scikit-learn's digits and plot its loss and accuracy"

SETTINGS = (
    Setting("epochs", 30, "training epochs", check=positive),
    Setting("hidden", 128, "hidden units", check=positive),
    Setting("lr", 0.05, "SGD learning rate", check=positive),
    Setting("momentum", 0.9, "SGD momentum", check=probability),
    Setting("batch_size", 64, "rows per update", check=positive),
)
QUICK = {"epochs": 3}

HISTORY_COLUMNS = {"seed": "seed of the run", "epoch": "epoch", "loss": "mean training cross-entropy",
                   "accuracy": "training accuracy", "val_loss": "validation cross-entropy",
                   "val_accuracy": "validation accuracy"}


def conditions(settings):
    return [{"model": "mlp"}]


def trial(settings, condition, seed):
    """Train the MLP from ``seed``: its history per epoch and its test loss and accuracy."""
    minidl.manual_seed(seed)
    data = load_digits(seed=seed)
    (X, y), (X_val, y_val), (X_test, y_test) = data.train, data.validation, data.test
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    hidden = settings["hidden"]
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    optimizer = optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"])
    history = train.fit(model, nn.functional.cross_entropy, optimizer, flat(X), y, settings["epochs"],
                        settings["batch_size"], validation=(flat(X_val), y_val), progress=False)
    test = train.evaluate(model, nn.functional.cross_entropy, flat(X_test), y_test)
    # the epochs' wall seconds are left out: records depend on the seed alone
    return {"history": [{key: _plain(value) for key, value in row.items() if key != "seconds"}
                        for row in history],
            "test": {key: float(value) for key, value in test.items()}}


def _plain(value):
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def finish(settings, trials):
    """history.csv, curves.png of the first seed, and the accuracies per seed with their means."""
    per_seed = {t.seed: {"final_val_accuracy": t.records["history"][-1]["val_accuracy"],
                         "best_val_accuracy": max(h["val_accuracy"] for h in t.records["history"]),
                         "test_accuracy": t.records["test"]["accuracy"], "test_loss": t.records["test"]["loss"]}
                for t in trials}
    means = {key: float(np.mean([run[key] for run in per_seed.values()])) for key in next(iter(per_seed.values()))}
    rows = [dict(seed=t.seed, **row) for t in trials for row in t.records["history"]]
    hidden = settings["hidden"]
    return engine.Results(
        title="An MLP on scikit-learn's digits",
        tables=[engine.Table("history.csv", "One row per seed and epoch.", rows, HISTORY_COLUMNS)],
        figures=[engine.Figure("curves.png", f"Loss and accuracy of the MLP 64-{hidden}-10",
                               _curves(trials[0].records["history"], hidden), engine.one_seed(trials[0].seed))],
        summary={"seeds": {str(seed): run for seed, run in per_seed.items()}, "mean": means})


def _curves(history, hidden):
    epochs = [h["epoch"] for h in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        left.plot(epochs, [h[key] for h in history], label=label)
    for key, label in (("accuracy", "train"), ("val_accuracy", "validation")):
        right.plot(epochs, [h[key] for h in history], label=label)
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axis in (left, right):
        axis.legend()
        axis.grid(alpha=0.3)
    figure.suptitle(f"MLP 64-{hidden}-10 on scikit-learn digits")
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, seeds=1)
