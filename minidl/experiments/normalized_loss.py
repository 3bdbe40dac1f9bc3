"""Train and test loss of Frobenius-normalized bias-free ReLU conv nets: [Liang 2019, sec. 4.2].

A bias-free ReLU network is positively homogeneous in each layer, so dividing every layer by its
Frobenius norm keeps every prediction and divides the outputs by the product of the norms
(minidl.analysis.norms). [Liang 2019] trains a bias-free 3-layer conv net from many initialization scales
to zero training error and finds that, after this normalization, the test loss is linearly related to the
training loss with a positive offset (figs. 4-2, 4-3, 4-6), that larger initializations give larger test
errors (fig. 4-4), and relates the test error to the product of the norms and the normalized test loss
(fig. 4-7).

Here the net is Conv(1, C, 3, padding 1) ReLU Conv(C, C, 3, stride 2, padding 1) ReLU Linear(16 C, 10),
all without biases, on scikit-learn's digits (70 % train / 30 % test, split by the seed), every weight
drawn from N(0, std^2). SGD with momentum 0.9, batch 32, learning rate lr for the first half of the
epochs, lr / 10 for the third quarter and lr / 100 for the last (the paper's 0.01, 0.01, 0.001, 0.0001).
One trial is one (init std, seed); one more net, from std 0.1 and the first seed, learns randomly
permuted training labels and is tested on permuted test labels (the paper's "RL point", shown, not
judged).

Null control: every trial also measures an untrained net of its init std, drawn from its own seed (the
nets of one seed differ only in scale, so once normalized they would be one net). Train and test points
come from one distribution, so any fixed network has nearly the same normalized loss on both, and across
networks the two agree almost perfectly even untrained (r = 1.0000): the linear relation cannot fail. The
claims judge each seed's statistic over the init stds beside the same statistic on the untrained nets; a
claim that the untrained networks satisfy too is not evidence. What can fail: whether the normalized loss
predicts the test error, and the train-test offset after removing each network's output scale s (the RMS
of its normalized, class-centred outputs on the training set): (test - train normalized loss) / s.
"""
import math

import matplotlib

matplotlib.use("Agg")
import numpy  # noqa: E402
from matplotlib import colormaps, ticker  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

import minidl  # noqa: E402
from data_tools import load_digits  # noqa: E402
from minidl import backend, init, nn, optim, train  # noqa: E402
from minidl.analysis import norms  # noqa: E402
from minidl.autograd import Tensor, no_grad  # noqa: E402
from minidl.experiments import engine, stats  # noqa: E402
from minidl.experiments.engine import Setting, nonnegative, positive  # noqa: E402
from minidl.experiments.output import figure_grid  # noqa: E402

NAME = "normalized-loss"
HELP = "train vs test loss of bias-free ReLU conv nets after dividing each layer by its Frobenius norm " \
       "[Liang 2019, sec. 4.2]"
PAPER = "[Liang 2019, sec. 4.2, figs. 4-2 to 4-7]"
RANDOM_LABEL_STD = 0.1
LINEAR = 0.9  # a Pearson correlation above this is a linear relation

SETTINGS = (
    Setting("stds", [0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3], "standard deviations of the initial weights",
            type=float, nargs="+", check=positive),
    Setting("channels", 32, "channels C of both convolutions", check=positive),
    Setting("epochs", 100, "training epochs of the true-label nets", check=positive),
    Setting("random_label_epochs", 300, "training epochs of the random-label net (0: none)", check=nonnegative),
    Setting("lr", 0.01, "first learning rate (then / 10, / 100)", check=positive),
)
QUICK = {"stds": [0.05, 0.1, 0.2], "channels": 8, "epochs": 8, "random_label_epochs": 8, "seeds": 2}

NETWORK_COLUMNS = {
    "init_std": "standard deviation of the initial weights", "seed": "seed of the trial",
    "labels": "true, or random (permuted labels)", "state": "trained, or untrained (the null control)",
    "epochs": "training epochs (0 untrained)", "train_error": "training error", "test_error": "test error",
    "train_loss": "training cross-entropy", "test_loss": "test cross-entropy",
    "normalized_train_loss": "training cross-entropy after dividing each layer by its Frobenius norm",
    "normalized_test_loss": "test cross-entropy after the same normalization",
    "product_of_norms": "product of the layers' Frobenius norms",
    "scale": "RMS of the normalized net's class-centred outputs on the training set",
    "scaled_offset": "(normalized test loss - normalized train loss) / scale"}


def build(channels, std):
    """The bias-free conv net of the module docstring for (N, 1, 8, 8) inputs, weights from N(0, std^2)."""
    model = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(16 * channels, 10, bias=False))
    for parameter in model.parameters():
        init.normal(parameter, 0.0, std)
    return model


class StepSchedule:
    """A fit callback that sets the optimizer's learning rate for each epoch: ``lr`` for the first half,
    lr / 10 for the third quarter and lr / 100 for the last [Liang 2019, sec. 4.2]."""

    def __init__(self, optimizer, lr, epochs):
        self.optimizer, self.rates = optimizer, [lr] * (epochs // 2) + [lr / 10] * (epochs // 4)
        self.rates += [lr / 100] * (epochs - len(self.rates))
        self.on_train_begin(None)

    def on_train_begin(self, model):
        self.optimizer.lr = self.rates[0] if self.rates else self.optimizer.lr

    def on_epoch_end(self, epoch, model, logs):
        if epoch < len(self.rates):
            self.optimizer.lr = self.rates[epoch]


def measure(model, train_set, test_set):
    """Errors and losses before and after normalization, the product of the layer norms, and the
    normalized net's output scale: the RMS of its class-centred outputs on the training inputs."""
    loss = nn.functional.cross_entropy
    normalized, product = norms.normalize_layers(model)
    before = {part: train.evaluate(model, loss, *data) for part, data in (("train", train_set), ("test", test_set))}
    after = {part: train.evaluate(normalized, loss, *data) for part, data in (("train", train_set), ("test", test_set))}
    normalized.eval()
    with no_grad():
        outputs = backend.asnumpy(normalized(Tensor(backend.to_device(train_set[0]))).data).astype(numpy.float64)
    centred = outputs - outputs.mean(axis=1, keepdims=True)
    return {"train_error": 1 - before["train"]["accuracy"], "test_error": 1 - before["test"]["accuracy"],
            "train_loss": before["train"]["loss"], "test_loss": before["test"]["loss"],
            "normalized_train_loss": after["train"]["loss"], "normalized_test_loss": after["test"]["loss"],
            "product_of_norms": product, "scale": float(numpy.sqrt((centred ** 2).mean()))}


def check(settings):
    stds = settings["stds"]
    if len(set(stds)) != len(stds) or len(stds) < 3:
        return (f"--stds must be at least 3 distinct values (each seed's statistic is a correlation over "
                f"them), got {stds}")
    return None


def plan(settings):
    seeds = range(settings["seed"], settings["seed"] + settings["seeds"])
    trials = [({"labels": "true", "init_std": std}, seed) for std in settings["stds"] for seed in seeds]
    if settings["random_label_epochs"]:
        trials.append(({"labels": "random", "init_std": RANDOM_LABEL_STD}, settings["seed"]))
    return trials


def _control_seed(settings, condition, seed):
    """The seed of the untrained control net of a trial: one per (seed, init std), because the nets of
    one seed differ only in scale, and so are one and the same net once normalized."""
    index = settings["stds"].index(condition["init_std"]) if condition["labels"] == "true" else len(settings["stds"])
    return int(numpy.random.SeedSequence([seed, index]).generate_state(1)[0])


def trial(settings, condition, seed):
    """Train one net from ``seed``: its measures after training, and those of an untrained net of the
    same init std drawn from :func:`_control_seed` (the null control)."""
    data = load_digits(validation=0.0, test=0.3, seed=seed)
    train_set, test_set = data.train, data.test
    epochs = settings["epochs"]
    if condition["labels"] == "random":
        shuffle = numpy.random.default_rng(seed)
        train_set = (data.train[0], shuffle.permutation(data.train[1]))
        test_set = (data.test[0], shuffle.permutation(data.test[1]))
        epochs = settings["random_label_epochs"]
    minidl.manual_seed(_control_seed(settings, condition, seed))
    untrained = measure(build(settings["channels"], condition["init_std"]), train_set, test_set)
    minidl.manual_seed(seed)
    model = build(settings["channels"], condition["init_std"])
    optimizer = optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9)
    train.fit(model, nn.functional.cross_entropy, optimizer, *train_set, epochs, 32,
              callbacks=[StepSchedule(optimizer, settings["lr"], epochs)], progress=False)
    return {"epochs": epochs, "untrained": untrained, "trained": measure(model, train_set, test_set)}


# --------------------------------------------------------------------- claims
def _networks(trials):
    """One row per trial and state (trained, untrained), with the scaled offset."""
    rows = []
    for t in trials:
        for state in ("trained", "untrained"):
            m = t.records[state]
            rows.append({**t.condition, "seed": t.seed, "state": state,
                         "epochs": t.records["epochs"] if state == "trained" else 0, **m,
                         "scaled_offset": (m["normalized_test_loss"] - m["normalized_train_loss"]) / m["scale"]})
    return rows


def _per_seed(networks, state, statistic):
    """``statistic(rows)`` of each seed's true-label networks in ``state`` (over the init stds), by seed."""
    seeds = sorted({n["seed"] for n in networks if n["labels"] == "true"})
    return [statistic([n for n in networks if n["labels"] == "true" and n["state"] == state and n["seed"] == s])
            for s in seeds]


def _correlation(kind, x, y):
    """A statistic over one seed's networks: Pearson or Spearman correlation of columns x and y (NaN when
    either is constant)."""
    def statistic(rows):
        a, b = (numpy.array([n[key] for n in rows], dtype=numpy.float64) for key in (x, y))
        if len(a) < 3 or numpy.ptp(a) == 0 or numpy.ptp(b) == 0:
            return math.nan
        test = scipy_stats.pearsonr if kind == "Pearson" else scipy_stats.spearmanr
        return float(test(a, b)[0])
    return statistic


def _mean_of(key):
    return lambda rows: float(numpy.mean([n[key] for n in rows]))


def _claim(networks, statement, statistic, effect, reference, smoke, control=True):
    """A one-sample claim on a per-seed statistic, greater than ``reference``, with the same statistic on
    the untrained networks as its null control (unless ``control`` is False)."""
    effect = f"{effect} - {reference:g}" if reference else effect
    judged = {state: _per_seed(networks, state, statistic) for state in ("trained", "untrained")}
    null = stats.one_sample("the same on the untrained networks", judged["untrained"], "greater", reference,
                            effect=effect, smoke=smoke) if control else None
    return stats.one_sample(statement, judged["trained"], "greater", reference, effect=effect, smoke=smoke,
                            control=null)


def claims(networks, smoke):
    """The paper's claims, each judged over seeds on a statistic of one seed's networks across init stds."""
    return [
        _claim(networks, "[Liang 2019, figs. 4-2, 4-3, 4-6]: after normalization the test loss is linearly "
                         f"related to the training loss (Pearson r above {LINEAR}).",
               _correlation("Pearson", "normalized_train_loss", "normalized_test_loss"),
               "Pearson r(normalized train loss, normalized test loss) over the init stds", LINEAR, smoke),
        _claim(networks, "[Liang 2019, fig. 4-6]: the normalized test loss lies above the normalized training "
                         "loss (a positive offset), judged after dividing the gap by each network's output "
                         "scale.", _mean_of("scaled_offset"),
               "(normalized test - train loss) / scale, averaged over the init stds", 0.0, smoke),
        _claim(networks, "[Liang 2019, sec. 4.2]: the normalized training loss is a proxy for generalization: "
                         "the higher it is, the higher the test error.",
               _correlation("Spearman", "normalized_train_loss", "test_error"),
               "Spearman rho(normalized train loss, test error) over the init stds", 0.0, smoke),
        _claim(networks, "[Liang 2019, fig. 4-7 b]: the test error grows with the normalized test loss.",
               _correlation("Spearman", "normalized_test_loss", "test_error"),
               "Spearman rho(normalized test loss, test error) over the init stds", 0.0, smoke),
        _claim(networks, "[Liang 2019, fig. 4-4]: the larger the initialization, the larger the final test "
                         "error.", _correlation("Spearman", "init_std", "test_error"),
               "Spearman rho(init std, test error) over the init stds", 0.0, smoke, control=False),
        _claim(networks, "[Liang 2019, fig. 4-7 c]: the test error grows with the product of the layers' "
                         "Frobenius norms.", _correlation("Spearman", "product_of_norms", "test_error"),
               "Spearman rho(product of norms, test error) over the init stds", 0.0, smoke),
    ]


def finish(settings, trials):
    """networks.csv (also in the report), losses.png, norms.png, the claims and the departures."""
    networks = _networks(trials)
    trained = [n for n in networks if n["state"] == "trained"]
    unfitted = sum(n["train_error"] > 0 for n in trained if n["labels"] == "true")
    low_loss = min(n["normalized_train_loss"] for n in trained)
    channels, n = settings["channels"], settings["seeds"]
    return engine.Results(
        title="Normalized train and test loss of bias-free ReLU conv nets", paper=PAPER,
        claims=claims(networks, settings["quick"]),
        tables=[engine.Table("networks.csv", "Every network, trained and untrained: errors, losses before and "
                             "after normalization, the product of the norms and the output scale.", networks,
                             NETWORK_COLUMNS)],
        figures=[engine.Figure("losses.png", "Test vs train loss before (left) and after (right) normalizing "
                               "each layer by its Frobenius norm, coloured by init std; grey crosses: the same "
                               "networks untrained; the star learned random labels ([Liang 2019, figs. 4-2, 4-3, "
                               "4-6])", _losses_figure(networks), f"every network of {n} seeds"),
                 engine.Figure("norms.png", "Trained true-label networks: test error vs init std (fig. 4-4); "
                               "normalized test loss vs product of norms, test error vs normalized test loss, "
                               "test error vs product of norms (fig. 4-7 a-c)", _norms_figure(trained),
                               f"every network of {n} seeds")],
        summary={"networks": networks},
        notes=["The paper uses CIFAR-10 (50k images, 32x32x3), 5x5 convolutions with 32 or 64 channels and 200 "
               "epochs; here digits (70 % of the 1797 8x8 images for training, a new split per seed), 3x3 "
               f"convolutions with {channels} channels and {settings['epochs']} epochs.",
               f"The paper's init stds run from 1e-4 to 0.15; here from {min(settings['stds']):g} to "
               f"{max(settings['stds']):g}, around the He scale sqrt(2 / fan_in) of the three layers "
               f"({(2 / 9) ** 0.5:.2g}, {(2 / (9 * channels)) ** 0.5:.2g}, {(2 / (16 * channels)) ** 0.5:.2g}).",
               "The momentum (0.9) is not stated in the paper.",
               "The paper pools its networks into one scatter plot; here each seed's networks over the init "
               "stds give one statistic, and the claims are tested over the seeds.",
               "The paper's 'linear relation' holds for untrained networks too (the null control): train and "
               "test points come from one distribution, so a fixed network's normalized losses on them agree. "
               "Its slope of about 1 is not judged (an equality, not a direction); its offset is, scale-free.",
               f"Every normalized loss lies between {low_loss:.4f} and ln 10 = {math.log(10):.4f}, the loss of "
               "uniform predictions: divided by the product of the norms, the outputs are small and the "
               "cross-entropy is nearly linear in them.",
               "The paper keeps only networks at zero training error; here every true-label network counts, "
               f"and {unfitted} of {len([t for t in trained if t['labels'] == 'true'])} did not reach zero "
               "training error."])


def _log(ax, which):
    """A log scale on ``which`` axis labelled at 1, 2 and 5 times the powers of ten, in plain numbers."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _scatter(ax, networks, x, y, colour):
    """Networks as points coloured by init std (log scale); random labels as a star, unfitted hollow."""
    true = [n for n in networks if n["labels"] == "true"]
    stds = [n["init_std"] for n in networks]
    norm = LogNorm(min(stds), max(stds)) if min(stds) < max(stds) else None
    colors = colormaps["viridis"]([norm(n["init_std"]) if norm else 0.5 for n in true])
    fitted = numpy.array([n["train_error"] == 0 for n in true], dtype=bool)
    points = numpy.array([[n[x], n[y]] for n in true], dtype=numpy.float64).reshape(-1, 2)
    if fitted.any():
        ax.scatter(points[fitted, 0], points[fitted, 1], c=colors[fitted], s=28, edgecolor="k", linewidth=0.4,
                   label="true labels, zero training error")
    if (~fitted).any():
        ax.scatter(points[~fitted, 0], points[~fitted, 1], facecolor="none", edgecolor=colors[~fitted], s=28,
                   label="true labels, training error > 0")
    for n in networks:
        if n["labels"] == "random":
            ax.scatter([n[x]], [n[y]], marker="*", s=160, color="C3", edgecolor="k", linewidth=0.4,
                       label="random labels")
    if colour and norm is not None:
        ax.figure.colorbar(ScalarMappable(norm=norm, cmap=colormaps["viridis"]), ax=ax, label="init std")


def _losses_figure(networks):
    untrained = [n for n in networks if n["state"] == "untrained" and n["labels"] == "true"]
    networks = [n for n in networks if n["state"] == "trained"]
    figure, axes = figure_grid(1, 2, panel=(5.6, 4.6))
    left, right = axes[0]
    _scatter(left, networks, "train_loss", "test_loss", colour=False)
    left.set(xlabel="train loss (log)", ylabel="test loss (log)", title="before normalization")
    _log(left, "x")
    _log(left, "y")
    _scatter(right, networks, "normalized_train_loss", "normalized_test_loss", colour=True)
    x = numpy.array([n["normalized_train_loss"] for n in networks])
    y = numpy.array([n["normalized_test_loss"] for n in networks])
    line = numpy.linspace(x.min(), x.max(), 2)
    if len(networks) >= 2 and x.max() > x.min():
        slope, intercept = numpy.polyfit(x, y, 1)
        right.plot(line, slope * line + intercept, color="C1", label=f"fit: slope {slope:.3f}")
    right.plot(line, line, color="0.5", linestyle="--", label="test = train")
    right.scatter([n["normalized_train_loss"] for n in untrained], [n["normalized_test_loss"] for n in untrained],
                  marker="x", color="0.5", s=20, label="untrained (null control)")
    right.set(xlabel="normalized train loss", ylabel="normalized test loss",
              title="after dividing each layer by its Frobenius norm")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    figure.suptitle("Cross-entropy of bias-free ReLU conv nets on digits [Liang 2019, figs. 4-2, 4-3, 4-6]")
    figure.tight_layout()
    return figure


def _norms_figure(networks):
    figure, axes = figure_grid(2, 2, panel=(5.4, 4.0))
    panels = [("init_std", "test_error", "init std (log)", "figure 4-4"),
              ("product_of_norms", "normalized_test_loss", "product of norms (log)", "figure 4-7 a"),
              ("normalized_test_loss", "test_error", "normalized test loss", "figure 4-7 b"),
              ("product_of_norms", "test_error", "product of norms (log)", "figure 4-7 c")]
    true = [n for n in networks if n["labels"] == "true"]
    for ax, (x, y, xlabel, title) in zip(axes.flat, panels):
        _scatter(ax, true, x, y, colour=False)
        ax.set(xlabel=xlabel, ylabel=y.replace("_", " "), title=title)
        if "(log)" in xlabel:
            _log(ax, "x")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize="small")
    figure.suptitle("True-label networks: test error, init std, product of norms and normalized loss "
                    "[Liang 2019, figs. 4-4, 4-7]")
    figure.tight_layout()
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, plan=plan, trial=trial,
                               finish=finish, check=check)
