"""Train a small ReLU network on scikit-learn's bundled digits and write its learning curves.

Writes into --out: history.csv (one row per epoch), curves.png (loss and accuracy, train and
validation) and summary.json (final and best validation accuracy, test accuracy, settings).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import nn, optim, train  # noqa: E402
from minidl.experiments.output import RunFolder  # noqa: E402

NAME = "digits"
HELP = "train an MLP on scikit-learn's digits and plot its loss and accuracy"


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=64)


def run(args):
    folder = RunFolder(args.out)
    minidl.manual_seed(args.seed)
    data = load_digits(seed=args.seed)
    (X, y), (X_val, y_val), (X_test, y_test) = data.train, data.validation, data.test
    flat = lambda a: a.reshape(len(a), -1)
    epochs = 3 if args.quick else args.epochs
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    history = train.fit(model, nn.functional.cross_entropy, optimizer, flat(X), y, epochs,
                        args.batch_size, validation=(flat(X_val), y_val), progress=args.progress)
    test = train.evaluate(model, nn.functional.cross_entropy, flat(X_test), y_test)
    folder.csv("history.csv", history)
    folder.figure("curves.png", _curves(history))
    summary = {"epochs": epochs, "hidden": args.hidden, "lr": args.lr, "momentum": args.momentum,
               "seed": args.seed, "final_val_accuracy": history[-1]["val_accuracy"],
               "best_val_accuracy": max(h["val_accuracy"] for h in history),
               "test_accuracy": test["accuracy"], "test_loss": test["loss"]}
    folder.json("summary.json", summary)
    print(f"digits: test accuracy {test['accuracy']:.3f} after {epochs} epochs; wrote {folder.path}")
    return summary


def _curves(history):
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
    figure.suptitle("MLP 64-128-10 on scikit-learn digits")
    return figure
