"""Initialization and weight perturbations of a network without hidden layers: papers/001 sections 3.2-3.6.

Linearly separable data (papers/001 section 3.2): points uniform in [-1, 1]^5 labelled by a random
perceptron through the origin, a training and a test set of --samples points each from the same
perceptron. The network has no hidden layer (section 3.3): Linear(5, 2) with cross-entropy, or
Linear(5, 1) with the exponential loss exp(-y yhat) and labels y in {-1, +1} (section 3.6). Training is
SGD with batch size 1 on shuffled data; weights and biases start from N(0, std^2).

1. Initialization (figures 3-1 to 3-3 and 3-6): init std 0.01, 0.05 and 0.1; cross-entropy at learning
   rates 1e-4, 1e-3 and 1e-2, the exponential loss at 1e-4; train and test loss every epoch.
2. Perturbation (figures 3-4, 3-5, 3-7 and 3-8): from init std 0.1, N(0, s^2) noise is added to the
   weights and biases at the end of chosen epochs (minidl.analysis.norms.WeightPerturbation), for
   several s, next to an unperturbed baseline of the same seed (same initialization and data order).
   The loss is recorded just before and just after every perturbation, and the cosine similarity to the
   first converged solution w_0 (the weights at the end of an early epoch, before the first
   perturbation; minidl.analysis.norms.CosineSimilarityTracker) every epoch.

Every setting runs from --seeds initializations; the claims average over them, the figures of part 2
show the first seed.

Writes into --out:
    curves.csv                   one row per setting, seed and record: train and test loss, test
                                 accuracy, cosine to w_0 (part 2), before or after a perturbation
    initialization.csv, perturbation.csv   the tables of the report
    initialization.png           loss curves per init std (figures 3-1 to 3-3, 3-6)
    perturbation.png             loss curves with perturbations and the cosine to w_0 (figures 3-4 to 3-8)
    summary.json, report.md      the settings, the tables, and the paper's claims judged
"""
import numpy
from tqdm import tqdm

import minidl
from data_tools import linearly_separable
from minidl import backend, init, nn, optim, train
from minidl.analysis.norms import CosineSimilarityTracker, WeightPerturbation
from minidl.autograd import Tensor, no_grad
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Claim, describe_noise, judge, \
    standard_error, write_report

NAME = "init-perturbation"
HELP = "init std and weight perturbations of a no-hidden-layer net on linearly separable data, " \
       "cross-entropy and exponential loss (papers/001 sections 3.2-3.6)"
PAPER = ("papers/001_db10d73ecdd3f037.txt (Liang, \"Experiments on the Generalization and Learning Dynamics "
         "of Deep Neural Networks\"), sections 3.2-3.6, figures 3-1 to 3-8")
DIMENSION = 5
INIT_STDS = (0.01, 0.05, 0.1)
INIT_RUNS = (("cross-entropy", 1e-4), ("cross-entropy", 1e-3), ("cross-entropy", 1e-2), ("exponential", 1e-4))
PERTURBATION_STDS = (0.01, 0.1, 1.0)
PERTURBATION_INIT_STD = 0.1
COSINE_CLOSE = 0.99  # "very close to the original solution": a cosine at least this
COSINE_FAR = 0.9     # below this the solution has clearly moved away
RECOVERED = 0.05     # the loss "converges back" when it ends within 5% of the unperturbed run's


def add_arguments(parser):
    parser.add_argument("--samples", type=int, default=5000, help="training points (and as many test)")
    parser.add_argument("--seeds", type=int, default=2, help="initializations per setting")
    parser.add_argument("--init-epochs", type=int, default=10)
    parser.add_argument("--perturbation-epochs", type=int, default=40)
    parser.add_argument("--perturb-every", type=int, default=8,
                        help="perturb at epochs k, 2k, ... before the last; w_0 is taken at epoch k / 2")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate of the perturbation runs")


class Losses:
    """A fit callback recording train and test loss and test accuracy of the current weights.

    Records epoch 0 (before training) and the end of every epoch, or only the end of ``epochs``. Placed
    before or after a WeightPerturbation in the callbacks, it sees the weights before or after the noise.

    Attributes:
        rows: list of {"epoch", "train_loss", "test_loss", "test_accuracy"}.
    """

    def __init__(self, loss_fn, train_set, test_set, epochs=None):
        self.loss_fn, self.train_set, self.test_set = loss_fn, train_set, test_set
        self.epochs = None if epochs is None else set(epochs)
        self.rows = []

    def on_train_begin(self, model):
        if self.epochs is None:
            self.record(0, model)

    def on_epoch_end(self, epoch, model, logs):
        if self.epochs is None or epoch in self.epochs:
            self.record(epoch, model)

    def record(self, epoch, model):
        self.rows.append({"epoch": epoch,
                          "train_loss": train.evaluate(model, self.loss_fn, *self.train_set)["loss"],
                          "test_loss": train.evaluate(model, self.loss_fn, *self.test_set)["loss"],
                          "test_accuracy": accuracy(model, *self.test_set)})


def accuracy(model, X, y):
    """Fraction of X classified as y: the argmax of 2 outputs against y in {0, 1}, or the sign of 1
    output against y in {-1, +1} of shape (N, 1)."""
    model.eval()
    with no_grad():
        output = backend.asnumpy(model(Tensor(backend.to_device(X))).data)
    model.train()
    predicted = output.argmax(axis=1) if output.shape[1] > 1 else numpy.where(output[:, 0] >= 0, 1, -1)
    return float((predicted == numpy.asarray(y).reshape(-1)).mean())


def build(loss, std):
    """Linear(5, 2) for cross-entropy or Linear(5, 1) for the exponential loss, weights and biases
    drawn from N(0, std^2) (papers/001 sections 3.3, 3.4, 3.6)."""
    model = nn.Linear(DIMENSION, 2 if loss == "cross-entropy" else 1)
    init.normal(model.weight, 0.0, std)
    init.normal(model.bias, 0.0, std)
    return model


def _data(samples, seed):
    """{loss: (train set, test set)}: the same points, labels in {0, 1} for cross-entropy and
    (N, 1) floats in {-1, +1} for the exponential loss."""
    X, y, w = linearly_separable(samples, DIMENSION, seed=seed)
    X_test, y_test, _ = linearly_separable(samples, DIMENSION, seed=seed + 1, w=w)
    zero_one = lambda labels: (labels + 1) // 2  # noqa: E731
    signs = lambda labels: labels.astype(numpy.float32)[:, None]  # noqa: E731
    return {"cross-entropy": ((X, zero_one(y)), (X_test, zero_one(y_test))),
            "exponential": ((X, signs(y)), (X_test, signs(y_test)))}


LOSS_FUNCTIONS = {"cross-entropy": nn.functional.cross_entropy, "exponential": nn.functional.exponential_loss}


def run(args):
    folder = RunFolder(args.out)
    samples, seeds = (500, 2) if args.quick else (args.samples, args.seeds)
    init_epochs, epochs, every = (3, 8, 2) if args.quick else \
        (args.init_epochs, args.perturbation_epochs, args.perturb_every)
    perturbed_at = list(range(every, epochs, every))
    reference_epoch = max(every // 2, 1)
    data = _data(samples, args.seed)
    total = seeds * (len(INIT_RUNS) * len(INIT_STDS) + 2 * (1 + len(PERTURBATION_STDS)))
    bar = tqdm(total=total, desc=NAME, unit="training", disable=not args.progress)
    curves = []
    for s in range(seeds):
        for loss, lr in INIT_RUNS:
            for std in INIT_STDS:
                minidl.manual_seed(args.seed + s)
                model = build(loss, std)
                recorder = Losses(LOSS_FUNCTIONS[loss], *data[loss])
                train.fit(model, LOSS_FUNCTIONS[loss], optim.SGD(model.parameters(), lr=lr), *data[loss][0],
                          init_epochs, 1, callbacks=[recorder], progress=args.progress)
                curves += [{"part": "initialization", "loss": loss, "lr": lr, "init_std": std,
                            "perturbation_std": 0.0, "seed": s, "when": "end of epoch", **row}
                           for row in recorder.rows]
                bar.update()
        for loss in LOSS_FUNCTIONS:
            for noise in (0.0,) + PERTURBATION_STDS:
                curves += _perturbation_run(loss, noise, data[loss], args.lr, epochs, perturbed_at,
                                            reference_epoch, args.seed + s, s, args.progress)
                bar.update()
    bar.close()

    init_table = _initialization_table(curves, init_epochs)
    perturbation_table = _perturbation_table(curves, perturbed_at, epochs)
    claims = _claims(curves, perturbed_at, epochs)
    folder.csv("curves.csv", curves)
    folder.csv("initialization.csv", init_table)
    folder.csv("perturbation.csv", perturbation_table)
    folder.figure("initialization.png", _initialization_figure(curves))
    folder.figure("perturbation.png", _perturbation_figure(curves, perturbed_at, reference_epoch))
    settings = {"data": f"{samples} training and {samples} test points uniform in [-1, 1]^{DIMENSION}, "
                        f"labelled by a random perceptron through the origin (seed {args.seed})",
                "network": "no hidden layer: Linear(5, 2) with cross-entropy, Linear(5, 1) with exp(-y yhat)",
                "optimizer": "SGD, batch size 1, shuffled, no momentum",
                "seeds": seeds, "init stds": ", ".join(map(str, INIT_STDS)),
                "initialization runs": "; ".join(f"{loss} lr {lr:g}" for loss, lr in INIT_RUNS)
                                       + f"; {init_epochs} epochs",
                "perturbation runs": f"init std {PERTURBATION_INIT_STD}, lr {args.lr:g}, {epochs} epochs, "
                                     f"noise std {', '.join(map(str, PERTURBATION_STDS))} at epochs "
                                     f"{perturbed_at}; w_0 taken at epoch {reference_epoch}"}
    folder.json("summary.json", {"settings": settings, "initialization": init_table,
                                 "perturbation": perturbation_table, "claims": [c.as_dict() for c in claims]})
    write_report(
        folder, "Initialization and weight perturbations on linearly separable data", PAPER, settings,
        [("Initialization (figures 3-1 to 3-3, 3-6): train loss after the first and the last epoch and "
          "the mean train loss over the epochs, mean over seeds.", init_table),
         ("Perturbation (figures 3-4 to 3-8): the jump of the train loss at a perturbation (mean over "
          "perturbations and seeds), the largest relative excess of the train loss over the unperturbed "
          "run just before the next perturbation or at the end, the final losses, and the cosine to w_0 at "
          "the end and its smallest value just before a perturbation (seeds pooled).", perturbation_table)],
        [("initialization.png", "Train (solid) and test (dashed) loss per epoch for each init std, mean "
          "over seeds (papers/001 figures 3-1 to 3-3 and 3-6)"),
         ("perturbation.png", "Train loss through the perturbations (vertical jumps at the dotted epochs) "
          "and the cosine similarity to w_0, first seed (papers/001 figures 3-4, 3-5, 3-7, 3-8)")],
        claims,
        notes=[f"The paper's perturbation runs use learning rate 1e-6 (figures 3-4, 3-5) or 0.01 "
               f"(figure 3-7) and unstated noise levels; here lr {args.lr:g} for both losses and noise std "
               f"{', '.join(map(str, PERTURBATION_STDS))}.",
               "Figure 3-8 is CIFAR-10 with 10 outputs; here the cosine to w_0 is followed on the same "
               "separable data as the other figures.",
               "With cross-entropy on two outputs the gradient of w_1 + w_2 is zero, so noise added to "
               "that direction is never undone; it lowers the cosine to w_0 for good."])
    print(f"{NAME}: {sum(c.verdict == HOLDS for c in claims)} of {len(claims)} claims hold; "
          f"wrote {folder.path}")
    return {"initialization": init_table, "perturbation": perturbation_table,
            "claims": [c.as_dict() for c in claims]}


def _perturbation_run(loss, noise, data, lr, epochs, perturbed_at, reference_epoch, seed, s, progress):
    """Rows of one perturbation run: every epoch end before the noise, and just after it."""
    minidl.manual_seed(seed)
    model = build(loss, PERTURBATION_INIT_STD)
    before = Losses(LOSS_FUNCTIONS[loss], *data)
    after = Losses(LOSS_FUNCTIONS[loss], *data, epochs=perturbed_at)
    cosine_before, cosine_after = (CosineSimilarityTracker(reference_epoch=reference_epoch) for _ in range(2))
    callbacks = [before, cosine_before]
    if noise:
        callbacks += [WeightPerturbation(noise, perturbed_at, seed=seed), after, cosine_after]
    train.fit(model, LOSS_FUNCTIONS[loss], optim.SGD(model.parameters(), lr=lr), *data[0], epochs, 1,
              callbacks=callbacks, progress=progress)
    rows = []
    for when, recorder, cosine in (("end of epoch", before, cosine_before),
                                   ("after perturbation", after, cosine_after)):
        cosines = {row["epoch"]: row["cosine"] for row in cosine.history}
        rows += [{"part": "perturbation", "loss": loss, "lr": lr, "init_std": PERTURBATION_INIT_STD,
                  "perturbation_std": noise, "seed": s, "when": when, **row,
                  "cosine": cosines.get(row["epoch"])} for row in recorder.rows]
    return rows


def _select(curves, **match):
    return [row for row in curves if all(row[key] == value for key, value in match.items())]


def _curve(curves, key, **match):
    """(epochs, values (seeds, epochs)) of ``key`` over the matching rows, one row of values per seed."""
    rows = _select(curves, **match)
    epochs = sorted({row["epoch"] for row in rows})
    seeds = sorted({row["seed"] for row in rows})
    values = {(row["seed"], row["epoch"]): row[key] for row in rows}
    return numpy.array(epochs), numpy.array([[values[s, e] for e in epochs] for s in seeds], dtype=float)


def _initialization(curves, key, loss, lr, std):
    """(epochs, values (seeds, epochs)) of ``key`` in the initialization run (loss, lr, init std)."""
    return _curve(curves, key, part="initialization", loss=loss, lr=lr, init_std=std)


def _perturbed(curves, key, loss, noise, when="end of epoch"):
    """(epochs, values (seeds, epochs)) of ``key`` in the perturbation run (loss, noise std), recorded at
    the end of every epoch, or just after each perturbation."""
    return _curve(curves, key, part="perturbation", loss=loss, perturbation_std=noise, when=when)


def _initialization_table(curves, init_epochs):
    table = []
    for loss, lr in INIT_RUNS:
        for std in INIT_STDS:
            _, values = _initialization(curves, "train_loss", loss, lr, std)
            _, test = _initialization(curves, "test_loss", loss, lr, std)
            table.append({"loss": loss, "lr": lr, "init_std": std, "train_loss_epoch_1": values[:, 1].mean(),
                          f"train_loss_epoch_{init_epochs}": values[:, -1].mean(),
                          "mean_train_loss": values[:, 1:].mean(),
                          f"test_loss_epoch_{init_epochs}": test[:, -1].mean()})
    return table


def _events(curves, loss, noise, perturbed_at, epochs):
    """Per seed and perturbation: the jump of the train loss; its excess over the unperturbed run of the
    same seed, relative to that run's loss, just before the next perturbation or at the end; and the
    cosine to w_0 then."""
    _, base = _perturbed(curves, "train_loss", loss, 0.0)
    grid, before = _perturbed(curves, "train_loss", loss, noise)
    _, cosine = _perturbed(curves, "cosine", loss, noise)
    _, after = _perturbed(curves, "train_loss", loss, noise, when="after perturbation")
    index = {int(e): i for i, e in enumerate(grid)}
    events = []
    for s in range(len(before)):
        for k, p in enumerate(perturbed_at):
            q = index[perturbed_at[k + 1] if k + 1 < len(perturbed_at) else epochs]
            events.append({"seed": s, "epoch": p, "jump": after[s, k] - before[s, index[p]],
                           "excess": before[s, q] / base[s, q] - 1, "cosine": cosine[s, q]})
    return events


def _perturbation_table(curves, perturbed_at, epochs):
    table = []
    for loss in LOSS_FUNCTIONS:
        _, base = _perturbed(curves, "train_loss", loss, 0.0)
        for noise in (0.0,) + PERTURBATION_STDS:
            final = {key: _perturbed(curves, key, loss, noise)[1][:, -1].mean()
                     for key in ("train_loss", "test_loss", "cosine")}
            row = {"loss": loss, "noise_std": noise}
            if noise:
                events = _events(curves, loss, noise, perturbed_at, epochs)
                row.update({"mean_jump": float(numpy.mean([e["jump"] for e in events])),
                            "largest_excess_over_baseline": float(max(e["excess"] for e in events)),
                            "least_cosine_before_next": float(min(e["cosine"] for e in events))})
            row.update({"final_train_loss": final["train_loss"],
                        "baseline_final_train_loss": base[:, -1].mean(),
                        "final_test_loss": final["test_loss"], "final_cosine": final["cosine"]})
            table.append(row)
    return table


def _all(verdicts):
    """holds when every part holds, does not hold when any does not, else inconclusive."""
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return DOES_NOT_HOLD if DOES_NOT_HOLD in verdicts else INCONCLUSIVE


def _init_claim(curves, loss, figures):
    """Larger init std, slower convergence: the mean train loss over the epochs, std 0.1 against 0.01,
    paired by seed, at every learning rate of ``loss``."""
    verdicts, parts = [], []
    for run_loss, lr in INIT_RUNS:
        if run_loss != loss:
            continue
        _, small = _initialization(curves, "train_loss", loss, lr, INIT_STDS[0])
        _, large = _initialization(curves, "train_loss", loss, lr, INIT_STDS[-1])
        differences = large[:, 1:].mean(axis=1) - small[:, 1:].mean(axis=1)
        mean, noise = differences.mean(), 2 * standard_error(differences)
        verdicts.append(judge(mean, noise))
        parts.append(f"lr {lr:g}: {large[:, 1:].mean():.4g} (std {INIT_STDS[-1]}) vs "
                     f"{small[:, 1:].mean():.4g} (std {INIT_STDS[0]}), paired difference {mean:+.3g} "
                     f"+- {describe_noise(noise, 2)} ({verdicts[-1]})")
    return Claim(f"{figures}, {loss}: with a larger standard deviation of the initial weights the network "
                 f"takes slightly longer to converge.", _all(verdicts),
                 "mean train loss over the epochs, " + "; ".join(parts) + ".")


def _recovery_claim(curves, loss, perturbed_at, epochs, figures):
    parts, worst, gap = [], [], perturbed_at[0]
    for noise in PERTURBATION_STDS:
        events = _events(curves, loss, noise, perturbed_at, epochs)
        worst.append(max(e["excess"] for e in events))
        at_end = numpy.mean([e["excess"] for e in events if e["epoch"] == perturbed_at[-1]])
        parts.append(f"noise {noise:g}: mean jump {numpy.mean([e['jump'] for e in events]):+.3g}, then at "
                     f"most {100 * worst[-1]:+.2f}%, {100 * at_end:+.2f}% at the end (mean over seeds)")
    return Claim(f"{figures}, {loss}: after each perturbation the loss converges back to the baseline.",
                 judge(RECOVERED - max(worst)),
                 f"excess of the perturbed run's train loss over the unperturbed run of the same seed after "
                 f"{gap} epochs of recovery, just before the next perturbation or at the end (holds within "
                 f"{100 * RECOVERED:g}% every time); " + "; ".join(parts) + ".")


def _cosine_claim(curves, loss, perturbed_at, epochs):
    parts, least = [], 1.0
    for noise in PERTURBATION_STDS:
        value = min(e["cosine"] for e in _events(curves, loss, noise, perturbed_at, epochs))
        least = min(least, value)
        parts.append(f"noise {noise:g}: {value:.4f}")
    _, baseline = _perturbed(curves, "cosine", loss, 0.0)
    verdict = HOLDS if least >= COSINE_CLOSE else DOES_NOT_HOLD if least < COSINE_FAR else INCONCLUSIVE
    return Claim(f"Section 3.6, figure 3-8, {loss}: after each perturbation the new solution is very close "
                 f"to the first converged solution w_0 (cosine close to 1).", verdict,
                 f"smallest cosine to w_0 just before the next perturbation or at the end (holds at >= "
                 f"{COSINE_CLOSE}, fails below {COSINE_FAR}): " + "; ".join(parts)
                 + f"; the unperturbed run ends at {baseline[:, -1].mean():.4f}.")


def _train_test_claim(curves):
    noise = PERTURBATION_STDS[-1]
    _, train_loss = _perturbed(curves, "train_loss", "exponential", noise)
    _, test_loss = _perturbed(curves, "test_loss", "exponential", noise)
    correlation = float(numpy.corrcoef(numpy.log(train_loss).ravel(), numpy.log(test_loss).ravel())[0, 1])
    ratio = numpy.median(test_loss / train_loss)
    return Claim("Section 3.6, figure 3-7, exponential loss: the training and testing losses are closely "
                 "related on this linearly separable data set.", judge(correlation - 0.95, 0.04),
                 f"with noise {noise:g}, the correlation of log train and log test loss over the epochs and "
                 f"seeds is {correlation:.4f} (holds above 0.99, fails below 0.91); median test / train loss "
                 f"{ratio:.3f}.")


def _claims(curves, perturbed_at, epochs):
    return [_init_claim(curves, "cross-entropy", "Section 3.4, figures 3-1 to 3-3"),
            _recovery_claim(curves, "cross-entropy", perturbed_at, epochs,
                            "Section 3.5, figures 3-4 and 3-5"),
            _init_claim(curves, "exponential", "Section 3.6, figure 3-6"),
            _recovery_claim(curves, "exponential", perturbed_at, epochs, "Section 3.6, figure 3-7"),
            _train_test_claim(curves),
            _cosine_claim(curves, "cross-entropy", perturbed_at, epochs),
            _cosine_claim(curves, "exponential", perturbed_at, epochs)]


def _initialization_figure(curves):
    figure, axes = figure_grid(2, 2, panel=(5.2, 3.8))
    for ax, (loss, lr) in zip(axes.flat, INIT_RUNS):
        for std in INIT_STDS:
            epochs, train_loss = _initialization(curves, "train_loss", loss, lr, std)
            _, test_loss = _initialization(curves, "test_loss", loss, lr, std)
            line, = ax.plot(epochs, train_loss.mean(axis=0), marker=".", label=f"init std {std:g}")
            ax.plot(epochs, test_loss.mean(axis=0), linestyle="--", color=line.get_color())
        ax.set(xlabel="epoch", ylabel=f"{loss} loss (log)", yscale="log", title=f"{loss}, lr {lr:g}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    figure.suptitle("Effect of the initial weights' standard deviation on the loss: train (solid), test "
                    "(dashed) (papers/001 figures 3-1 to 3-3, 3-6)")
    figure.tight_layout()
    return figure


def _path(curves, loss, noise, key):
    """(x, y) of the first seed's curve with the value after each perturbation inserted at its epoch."""
    rows = _select(curves, part="perturbation", loss=loss, perturbation_std=noise, seed=0)
    order = {"end of epoch": 0, "after perturbation": 1}
    rows = sorted((r for r in rows if r[key] is not None), key=lambda r: (r["epoch"], order[r["when"]]))
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def _perturbation_figure(curves, perturbed_at, reference_epoch):
    figure, axes = figure_grid(len(LOSS_FUNCTIONS), 2, panel=(6.2, 3.8))
    for row, loss in zip(axes, LOSS_FUNCTIONS):
        for noise in (0.0,) + PERTURBATION_STDS:
            label = "no perturbation" if noise == 0 else f"noise std {noise:g}"
            row[0].plot(*_path(curves, loss, noise, "train_loss"), label=label)
            row[1].plot(*_path(curves, loss, noise, "cosine"), label=label)
        row[0].set(xlabel="epoch", ylabel="train loss (log)", yscale="log", title=f"{loss}: train loss")
        row[1].set(xlabel="epoch", ylabel="cos(w, w_0)",
                   title=f"{loss}: cosine to w_0 (taken at epoch {reference_epoch})")
        for ax in row:
            for epoch in perturbed_at:
                ax.axvline(epoch, color="0.6", linestyle=":", linewidth=0.8)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")
    figure.suptitle("Weight perturbations at the dotted epochs (papers/001 figures 3-4, 3-5, 3-7, 3-8), "
                    "first seed")
    figure.tight_layout()
    return figure
