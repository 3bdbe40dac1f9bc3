"""Initialization and weight perturbations of a network without hidden layers: [Liang 2019, secs. 3.2-3.6].

Linearly separable data [Liang 2019, sec. 3.2]: points uniform in [-1, 1]^5 labelled by a random
perceptron through the origin, a training and a test set of --samples points each from the same
perceptron, drawn from the first seed (--seed) for every trial, so that every trial solves one problem.
The network has no hidden layer (sec. 3.3): Linear(5, 2) with cross-entropy, or Linear(5, 1) with the
exponential loss exp(-y yhat) and labels y in {-1, +1} (sec. 3.6). Training is SGD with batch size 1 on
shuffled data; weights and biases start from N(0, std^2). The trial's seed draws the initialization, the
batch order and the perturbations.

1. Initialization (figs. 3-1 to 3-3 and 3-6): init std 0.01, 0.05 and 0.1; cross-entropy at learning
   rates 1e-4, 1e-3 and 1e-2, the exponential loss at 1e-4; train and test loss every epoch.
2. Perturbation (figs. 3-4, 3-5, 3-7 and 3-8): from init std 0.1, N(0, s^2) noise is added to the
   weights and biases at the end of chosen epochs (minidl.analysis.norms.WeightPerturbation), for
   several s, next to an unperturbed baseline of the same seed (same initialization and data order).
   The loss is recorded just before and just after every perturbation, and the cosine similarity to the
   first converged solution w_0 (the weights at the end of an early epoch, before the first
   perturbation; minidl.analysis.norms.CosineSimilarityTracker) every epoch.

Null controls: the cosine to w_0 beside the cosine between w_0 and the unperturbed solution of the next
seed (every solution of one separable problem may point the same way); the train-test relation beside
the same statistic with the test loss on points labelled by an independent perceptron.
"""
import matplotlib

matplotlib.use("Agg")
import numpy  # noqa: E402

import minidl  # noqa: E402
from data_tools import linearly_separable  # noqa: E402
from minidl import backend, init, nn, optim, train  # noqa: E402
from minidl.analysis.norms import CosineSimilarityTracker, WeightPerturbation, flat_cosine  # noqa: E402
from minidl.autograd import Tensor, no_grad  # noqa: E402
from minidl.experiments import engine, stats  # noqa: E402
from minidl.experiments.engine import Setting, positive  # noqa: E402
from minidl.experiments.output import figure_grid  # noqa: E402

NAME = "init-perturbation"
HELP = "init std and weight perturbations of a no-hidden-layer net on linearly separable data, " \
       "cross-entropy and exponential loss [Liang 2019, secs. 3.2-3.6]"
PAPER = "[Liang 2019, secs. 3.2-3.6, figs. 3-1 to 3-8]"
DIMENSION = 5
INIT_STDS = (0.01, 0.05, 0.1)
INIT_RUNS = (("cross-entropy", 1e-4), ("cross-entropy", 1e-3), ("cross-entropy", 1e-2), ("exponential", 1e-4))
PERTURBATION_STDS = (0.01, 0.1, 1.0)
PERTURBATION_INIT_STD = 0.1
COSINE_CLOSE = 0.99  # "very close to the original solution": a cosine above this
RECOVERED = 0.05     # the loss "converges back" when it ends within 5% of the unperturbed run's
RELATED = 0.9        # train and test loss are "closely related" at a correlation above this

SETTINGS = (
    Setting("samples", 5000, "training points (and as many test points)", check=positive),
    Setting("init_epochs", 10, "epochs of the initialization runs", check=positive),
    Setting("perturbation_epochs", 40, "epochs of the perturbation runs", check=positive),
    Setting("perturb_every", 8, "perturb at epochs k, 2k, ... before the last; w_0 is taken at epoch k / 2",
            check=positive),
    Setting("lr", 0.01, "learning rate of the perturbation runs", check=positive),
)
QUICK = {"samples": 500, "init_epochs": 3, "perturbation_epochs": 8, "perturb_every": 2, "seeds": 2}

CURVE_COLUMNS = {
    "part": "initialization or perturbation", "loss": "cross-entropy or exponential", "lr": "learning rate",
    "init_std": "std of the initial weights", "perturbation_std": "std of the weight noise (0: baseline)",
    "seed": "seed of the trial", "when": "end of epoch, or after perturbation (the same epoch, after the noise)",
    "epoch": "epoch (0: before training)", "train_loss": "training loss", "test_loss": "test loss",
    "test_accuracy": "test accuracy", "cosine": "cosine to w_0 (perturbation runs, from the epoch w_0 is taken)",
    "unrelated_test_loss": "loss on points labelled by an independent perceptron (perturbation runs, null "
                           "control)"}
INIT_COLUMNS = {"loss": "loss function", "lr": "learning rate", "init_std": "std of the initial weights",
                "train_loss_epoch_1": "train loss after epoch 1, mean over seeds",
                "train_loss_last_epoch": "train loss after the last epoch, mean over seeds",
                "mean_train_loss": "train loss averaged over the epochs, mean over seeds",
                "test_loss_last_epoch": "test loss after the last epoch, mean over seeds"}
PERTURBATION_COLUMNS = {
    "loss": "loss function", "noise_std": "std of the weight noise (0: baseline)",
    "mean_jump": "rise of the train loss at a perturbation, mean over perturbations and seeds",
    "largest_excess_over_baseline": "largest relative excess of the train loss over the unperturbed run of the "
                                    "same seed, just before the next perturbation or at the end",
    "least_cosine_before_next": "smallest cosine to w_0 just before the next perturbation or at the end",
    "final_train_loss": "train loss at the end, mean over seeds",
    "baseline_final_train_loss": "the unperturbed run's train loss at the end, mean over seeds",
    "final_test_loss": "test loss at the end, mean over seeds",
    "final_cosine": "cosine to w_0 at the end, mean over seeds"}


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
    drawn from N(0, std^2) [Liang 2019, secs. 3.3, 3.4, 3.6]."""
    model = nn.Linear(DIMENSION, 2 if loss == "cross-entropy" else 1)
    init.normal(model.weight, 0.0, std)
    init.normal(model.bias, 0.0, std)
    return model


def _data(samples, seed):
    """{loss: (train set, test set, unrelated set)}: the same points, labels in {0, 1} for cross-entropy
    and (N, 1) floats in {-1, +1} for the exponential loss; the unrelated set's points are labelled by an
    independent perceptron (a null control)."""
    X, y, w = linearly_separable(samples, DIMENSION, seed=seed)
    X_test, y_test, _ = linearly_separable(samples, DIMENSION, seed=seed + 1, w=w)
    X_other, y_other, _ = linearly_separable(samples, DIMENSION, seed=seed + 2)
    zero_one = lambda labels: (labels + 1) // 2  # noqa: E731
    signs = lambda labels: labels.astype(numpy.float32)[:, None]  # noqa: E731
    return {loss: ((X, f(y)), (X_test, f(y_test)), (X_other, f(y_other)))
            for loss, f in (("cross-entropy", zero_one), ("exponential", signs))}


LOSS_FUNCTIONS = {"cross-entropy": nn.functional.cross_entropy, "exponential": nn.functional.exponential_loss}


def schedule(settings):
    """(epochs perturbed at, epoch w_0 is taken at) of the perturbation runs."""
    every = settings["perturb_every"]
    return list(range(every, settings["perturbation_epochs"], every)), max(every // 2, 1)


def conditions(settings):
    return [{"part": "initialization", "loss": loss, "lr": lr, "init_std": std}
            for loss, lr in INIT_RUNS for std in INIT_STDS] + \
        [{"part": "perturbation", "loss": loss, "perturbation_std": noise}
         for loss in LOSS_FUNCTIONS for noise in (0.0,) + PERTURBATION_STDS]


def check(settings):
    if settings["perturb_every"] >= settings["perturbation_epochs"]:
        return (f"--perturb-every must be below --perturbation-epochs, got {settings['perturb_every']} and "
                f"{settings['perturbation_epochs']}")
    return None


def trial(settings, condition, seed):
    """One initialization or perturbation run from ``seed``: its rows of the curves (see CURVE_COLUMNS);
    a perturbation run also returns w_0 and its final weights, flattened."""
    loss = condition["loss"]
    train_set, test_set, unrelated = _data(settings["samples"], settings["seed"])[loss]
    minidl.manual_seed(seed)
    if condition["part"] == "initialization":
        model = build(loss, condition["init_std"])
        recorder = Losses(LOSS_FUNCTIONS[loss], train_set, test_set)
        train.fit(model, LOSS_FUNCTIONS[loss], optim.SGD(model.parameters(), lr=condition["lr"]), *train_set,
                  settings["init_epochs"], 1, callbacks=[recorder], progress=False)
        return {"rows": [{**condition, "perturbation_std": 0.0, "seed": seed, "when": "end of epoch", **row}
                         for row in recorder.rows]}
    noise, (perturbed_at, reference_epoch) = condition["perturbation_std"], schedule(settings)
    model = build(loss, PERTURBATION_INIT_STD)
    before = Losses(LOSS_FUNCTIONS[loss], train_set, test_set)
    control = Losses(LOSS_FUNCTIONS[loss], train_set, unrelated)
    after = Losses(LOSS_FUNCTIONS[loss], train_set, test_set, epochs=perturbed_at)
    cosine_before, cosine_after = (CosineSimilarityTracker(reference_epoch=reference_epoch) for _ in range(2))
    callbacks = [before, control, cosine_before]
    if noise:
        callbacks += [WeightPerturbation(noise, perturbed_at, seed=seed), after, cosine_after]
    train.fit(model, LOSS_FUNCTIONS[loss], optim.SGD(model.parameters(), lr=settings["lr"]), *train_set,
              settings["perturbation_epochs"], 1, callbacks=callbacks, progress=False)
    rows = []
    for when, recorder, cosine in (("end of epoch", before, cosine_before),
                                   ("after perturbation", after, cosine_after)):
        cosines = {row["epoch"]: row["cosine"] for row in cosine.history}
        rows += [{"part": "perturbation", "loss": loss, "lr": settings["lr"], "init_std": PERTURBATION_INIT_STD,
                  "perturbation_std": noise, "seed": seed, "when": when, **row, "cosine": cosines.get(row["epoch"]),
                  "unrelated_test_loss": control.rows[i]["test_loss"] if when == "end of epoch" else None}
                 for i, row in enumerate(recorder.rows)]
    keys = sorted(cosine_before.reference)
    flat = lambda arrays: numpy.concatenate([backend.asnumpy(a).astype(numpy.float64).ravel()  # noqa: E731
                                             for a in arrays]).tolist()
    parameters = dict(model.named_parameters())
    return {"rows": rows, "w_0": flat(cosine_before.reference[k] for k in keys),
            "final": flat(parameters[k].data for k in keys)}


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


def _initialization_table(curves):
    table = []
    for loss, lr in INIT_RUNS:
        for std in INIT_STDS:
            _, values = _initialization(curves, "train_loss", loss, lr, std)
            _, test = _initialization(curves, "test_loss", loss, lr, std)
            table.append({"loss": loss, "lr": lr, "init_std": std, "train_loss_epoch_1": values[:, 1].mean(),
                          "train_loss_last_epoch": values[:, -1].mean(), "mean_train_loss": values[:, 1:].mean(),
                          "test_loss_last_epoch": test[:, -1].mean()})
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


def _init_claim(curves, loss, lr, smoke):
    """Larger init std, slower convergence: the train loss averaged over the epochs, ordered by init std."""
    ordered = [(f"std {std:g}", _initialization(curves, "train_loss", loss, lr, std)[1][:, 1:].mean(axis=1))
               for std in INIT_STDS]
    figures = "sec. 3.4, figs. 3-1 to 3-3" if loss == "cross-entropy" else "sec. 3.6, fig. 3-6"
    return stats.ordering(f"[Liang 2019, {figures}], {loss}, lr {lr:g}: with a larger standard deviation of the "
                          "initial weights the network takes longer to converge (the train loss averaged over "
                          "the epochs grows with the init std).", ordered, "less", smoke=smoke)


def _recovery_claim(curves, loss, perturbed_at, epochs, smoke):
    """Per seed, the largest excess of the perturbed runs over the baseline, below RECOVERED."""
    worst = numpy.max([[max(e["excess"] for e in _events(curves, loss, noise, perturbed_at, epochs) if e["seed"] == s)
                        for s in range(len(_seeds(curves)))] for noise in PERTURBATION_STDS], axis=0)
    figures = "sec. 3.5, figs. 3-4, 3-5" if loss == "cross-entropy" else "sec. 3.6, fig. 3-7"
    return stats.one_sample(
        f"[Liang 2019, {figures}], {loss}: after each perturbation the loss converges back to the baseline "
        f"(within {100 * RECOVERED:g} % of the unperturbed run of the same seed).", worst, "less", RECOVERED,
        effect="largest relative excess of the train loss over the unperturbed run, just before the next "
               f"perturbation or at the end, over every noise std - {RECOVERED:g}", smoke=smoke)


def _cosine_claim(curves, finals, loss, perturbed_at, epochs, smoke):
    """Per seed, the smallest cosine to w_0 before the next perturbation, above COSINE_CLOSE; the null
    control: the cosine between w_0 and the unperturbed solution of the next seed."""
    least = numpy.min([[min(e["cosine"] for e in _events(curves, loss, noise, perturbed_at, epochs) if e["seed"] == s)
                        for s in range(len(_seeds(curves)))] for noise in PERTURBATION_STDS], axis=0)
    w_0, final = finals[loss]
    effect = f"cosine - {COSINE_CLOSE:g}"
    control = None
    if len(w_0) > 1:
        others = [flat_cosine([numpy.asarray(w_0[s])], [numpy.asarray(final[(s + 1) % len(final)])])
                  for s in range(len(w_0))]
        control = stats.one_sample("the cosine between w_0 and the unperturbed solution of the next seed", others,
                                   "greater", COSINE_CLOSE, effect=effect, smoke=smoke)
    return stats.one_sample(
        f"[Liang 2019, sec. 3.6, fig. 3-8], {loss}: after each perturbation the new solution is very close to the "
        f"first converged solution w_0 (cosine above {COSINE_CLOSE:g}).", least, "greater", COSINE_CLOSE,
        effect="smallest cosine to w_0 just before the next perturbation or at the end, over every noise std - "
               f"{COSINE_CLOSE:g}", smoke=smoke, control=control)


def _train_test_claim(curves, smoke):
    """Per seed, the correlation of log train and log test loss over the epochs of the noisiest exponential
    run; the null control uses the loss on points of an independent perceptron as the test loss."""
    noise = PERTURBATION_STDS[-1]
    _, train_loss = _perturbed(curves, "train_loss", "exponential", noise)

    def correlations(key):
        _, other = _perturbed(curves, key, "exponential", noise)
        return [float(numpy.corrcoef(numpy.log(a), numpy.log(b))[0, 1]) for a, b in zip(train_loss, other)]

    effect = f"Pearson r(log train loss, log test loss) over the epochs - {RELATED:g}"
    control = stats.one_sample("the same with the loss on points labelled by an independent perceptron",
                               correlations("unrelated_test_loss"), "greater", RELATED, effect=effect, smoke=smoke)
    return stats.one_sample(
        "[Liang 2019, sec. 3.6, fig. 3-7], exponential loss: the training and testing losses are closely related "
        f"on this linearly separable data set (correlation above {RELATED:g}, with weight noise {noise:g}).",
        correlations("test_loss"), "greater", RELATED, effect=effect, smoke=smoke, control=control)


def _seeds(curves):
    return sorted({row["seed"] for row in curves})


def claims(curves, finals, perturbed_at, epochs, smoke):
    """Every claim of the report, judged over seeds."""
    return [*(_init_claim(curves, loss, lr, smoke) for loss, lr in INIT_RUNS),
            _recovery_claim(curves, "cross-entropy", perturbed_at, epochs, smoke),
            _recovery_claim(curves, "exponential", perturbed_at, epochs, smoke),
            _train_test_claim(curves, smoke),
            _cosine_claim(curves, finals, "cross-entropy", perturbed_at, epochs, smoke),
            _cosine_claim(curves, finals, "exponential", perturbed_at, epochs, smoke)]


def finish(settings, trials):
    """curves.csv, the two tables (in the report), the two figures, the claims and the departures."""
    curves = [row for t in trials for row in t.records["rows"]]
    finals = {loss: tuple([t.records[key] for t in engine.select(trials, part="perturbation", loss=loss,
                                                                  perturbation_std=0.0)] for key in ("w_0", "final"))
              for loss in LOSS_FUNCTIONS}
    perturbed_at, reference_epoch = schedule(settings)
    epochs = settings["perturbation_epochs"]
    n = settings["seeds"]
    return engine.Results(
        title="Initialization and weight perturbations on linearly separable data", paper=PAPER,
        claims=claims(curves, finals, perturbed_at, epochs, settings["quick"]),
        tables=[engine.Table("curves.csv", "One row per run, seed and record.", curves, CURVE_COLUMNS),
                engine.Table("initialization.csv", "Initialization ([Liang 2019, figs. 3-1 to 3-3, 3-6]).",
                             _initialization_table(curves), INIT_COLUMNS, in_report=True),
                engine.Table("perturbation.csv", "Perturbation ([Liang 2019, figs. 3-4 to 3-8]), seeds pooled.",
                             _perturbation_table(curves, perturbed_at, epochs), PERTURBATION_COLUMNS, in_report=True)],
        figures=[engine.Figure("initialization.png", "Train (solid) and test (dashed) loss per epoch for each init "
                               "std ([Liang 2019, figs. 3-1 to 3-3, 3-6])", _initialization_figure(curves),
                               engine.over_seeds(n)),
                 engine.Figure("perturbation.png", "Train loss through the perturbations (vertical jumps at the "
                               "dotted epochs) and the cosine to w_0 ([Liang 2019, figs. 3-4, 3-5, 3-7, 3-8])",
                               _perturbation_figure(curves, perturbed_at, reference_epoch, settings["seed"]),
                               engine.one_seed(settings["seed"]))],
        summary={"perturbed_at": perturbed_at, "w_0_epoch": reference_epoch},
        notes=["The paper's perturbation runs use learning rate 1e-6 (figs. 3-4, 3-5) or 0.01 (fig. 3-7) and "
               f"unstated noise levels; here lr {settings['lr']:g} for both losses, noise std "
               f"{', '.join(map(str, PERTURBATION_STDS))} at epochs {perturbed_at}, w_0 taken at epoch "
               f"{reference_epoch}.",
               "Fig. 3-8 is CIFAR-10 with 10 outputs; here the cosine to w_0 is followed on the same separable data "
               "as the other figures.",
               "The paper shows single runs; here each claim is tested over seeds, and the thresholds of "
               f"'converges back' ({100 * RECOVERED:g} %), 'very close' (cosine {COSINE_CLOSE:g}) and 'closely "
               f"related' (correlation {RELATED:g}) are chosen here.",
               "'Takes longer to converge' is judged by the train loss averaged over the epochs, which a larger "
               "initial loss raises too.",
               "With cross-entropy on two outputs the gradient of w_1 + w_2 is zero, so noise added to that "
               "direction is never undone; it lowers the cosine to w_0 for good."])


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
                    "(dashed)")
    figure.tight_layout()
    return figure


def _path(curves, loss, noise, key, seed):
    """(x, y) of one seed's curve with the value after each perturbation inserted at its epoch."""
    rows = _select(curves, part="perturbation", loss=loss, perturbation_std=noise, seed=seed)
    order = {"end of epoch": 0, "after perturbation": 1}
    rows = sorted((r for r in rows if r[key] is not None), key=lambda r: (r["epoch"], order[r["when"]]))
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def _perturbation_figure(curves, perturbed_at, reference_epoch, seed):
    figure, axes = figure_grid(len(LOSS_FUNCTIONS), 2, panel=(6.2, 3.8))
    for row, loss in zip(axes, LOSS_FUNCTIONS):
        for noise in (0.0,) + PERTURBATION_STDS:
            label = "no perturbation" if noise == 0 else f"noise std {noise:g}"
            row[0].plot(*_path(curves, loss, noise, "train_loss", seed), label=label)
            row[1].plot(*_path(curves, loss, noise, "cosine", seed), label=label)
        row[0].set(xlabel="epoch", ylabel="train loss (log)", yscale="log", title=f"{loss}: train loss")
        row[1].set(xlabel="epoch", ylabel="cos(w, w_0)",
                   title=f"{loss}: cosine to w_0 (taken at epoch {reference_epoch})")
        for ax in row:
            for epoch in perturbed_at:
                ax.axvline(epoch, color="0.6", linestyle=":", linewidth=0.8)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")
    figure.suptitle("Weight perturbations at the dotted epochs")
    figure.tight_layout()
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, check=check)
