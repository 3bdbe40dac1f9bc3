"""Train and test loss of Frobenius-normalized bias-free ReLU conv nets: papers/001 section 4.2.

A bias-free ReLU network is positively homogeneous in each layer, so dividing every layer by its
Frobenius norm keeps every prediction and divides the outputs by the product of the norms
(minidl.analysis.norms). papers/001 trains a bias-free 3-layer conv net from many initialization scales
to zero training error and finds that, after this normalization, the test loss is linearly related to the
training loss with a positive offset (figures 4-2, 4-3, 4-6), that larger initializations give larger test
errors (figure 4-4), and relates the test error to the product of the norms and the normalized test loss
(figure 4-7).

Here the net is Conv(1, C, 3, padding 1) ReLU Conv(C, C, 3, stride 2, padding 1) ReLU Linear(16 C, 10),
all without biases, on scikit-learn's digits (8x8, split 70% train / 30% test), every weight drawn from
N(0, std^2) for each std of --stds, --seeds times. SGD with momentum 0.9, batch 32, learning rate 0.01
for the first half of the epochs, 0.001 for the third quarter and 0.0001 for the last (the paper's
0.01, 0.01, 0.001, 0.0001). One more net, from std 0.1, learns randomly permuted training labels and is
tested on permuted test labels (the paper's "RL point").

Writes into --out:
    networks.csv                 one row per network: init std, seed, labels, train and test error and
                                 loss before and after normalization, the product of the norms
    losses.png                   test vs train loss before and after normalization (figures 4-2, 4-3, 4-6)
    norms.png                    test error vs init std, and the product of norms and normalized loss
                                 (figures 4-4, 4-7)
    summary.json, report.md      the settings, the table, and the paper's claims judged
"""
import numpy
from matplotlib import colormaps, ticker
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from scipy import stats
from tqdm import tqdm

import minidl
from data_tools import load_digits
from minidl import init, nn, optim, train
from minidl.analysis import norms
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Claim, write_report

NAME = "normalized-loss"
HELP = "train vs test loss of bias-free ReLU conv nets after dividing each layer by its Frobenius norm " \
       "(papers/001 section 4.2)"
PAPER = ("papers/001_db10d73ecdd3f037.txt (Liang, \"Experiments on the Generalization and Learning Dynamics "
         "of Deep Neural Networks\"), section 4.2, figures 4-2 to 4-7")
INIT_STDS = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)
RANDOM_LABEL_STD = 0.1
SIGNIFICANCE = 0.05
LINEAR = (0.9, 0.5)  # a correlation above the first is a linear relation; below the second there is none


def add_arguments(parser):
    parser.add_argument("--stds", type=float, nargs="+", default=list(INIT_STDS),
                        help="standard deviations of the initial weights")
    parser.add_argument("--seeds", type=int, default=2, help="networks per init std")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--random-label-epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.01, help="first learning rate (then / 10, / 100)")


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
    lr / 10 for the third quarter and lr / 100 for the last (papers/001 section 4.2)."""

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
    """Errors and losses before and after normalization, and the product of the layer norms."""
    loss = nn.functional.cross_entropy
    parts = (("train", train_set), ("test", test_set))
    before = {part: train.evaluate(model, loss, *data) for part, data in parts}
    after = {part: norms.normalized_loss(model, *data) for part, data in parts}
    return {"train_error": 1 - before["train"]["accuracy"], "test_error": 1 - before["test"]["accuracy"],
            "train_loss": before["train"]["loss"], "test_loss": before["test"]["loss"],
            "normalized_train_loss": after["train"]["loss"], "normalized_test_loss": after["test"]["loss"],
            "product_of_norms": after["train"]["product_of_norms"]}


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(validation=0.0, test=0.3, seed=args.seed)
    stds, seeds, channels = ((0.05, 0.1, 0.2), 1, 8) if args.quick else \
        (tuple(args.stds), args.seeds, args.channels)
    epochs, random_epochs = (8, 8) if args.quick else (args.epochs, args.random_label_epochs)
    shuffle = numpy.random.default_rng(args.seed)
    random_labels = (shuffle.permutation(data.train[1]), shuffle.permutation(data.test[1]))
    jobs = [(std, s, "true") for std in stds for s in range(seeds)] + [(RANDOM_LABEL_STD, 0, "random")]
    networks = []
    for std, s, labels in tqdm(jobs, desc=NAME, unit="network", disable=not args.progress):
        minidl.manual_seed(args.seed + s)
        model = build(channels, std)
        train_set, test_set = data.train, data.test
        if labels == "random":
            train_set, test_set = (data.train[0], random_labels[0]), (data.test[0], random_labels[1])
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        n_epochs = random_epochs if labels == "random" else epochs
        train.fit(model, nn.functional.cross_entropy, optimizer, *train_set, n_epochs, 32,
                  callbacks=[StepSchedule(optimizer, args.lr, n_epochs)], progress=args.progress)
        networks.append({"init_std": std, "seed": s, "labels": labels, "epochs": n_epochs,
                         **measure(model, train_set, test_set)})

    claims = _claims(networks)
    folder.csv("networks.csv", networks)
    folder.figure("losses.png", _losses_figure(networks))
    folder.figure("norms.png", _norms_figure(networks))
    low_product, high_product = (f([n["product_of_norms"] for n in networks]) for f in (min, max))
    low_loss = min(n["normalized_train_loss"] for n in networks)
    settings = {"data": f"scikit-learn digits, {len(data.train[0])} train / {len(data.test[0])} test "
                        f"(split seed {args.seed})",
                "network": f"Conv(1, {channels}, 3) ReLU Conv({channels}, {channels}, 3, stride 2) ReLU "
                           f"Linear({16 * channels}, 10), no biases",
                "init stds": ", ".join(f"{std:g}" for std in stds), "seeds per std": seeds,
                "optimizer": f"SGD, momentum 0.9, batch 32, lr {args.lr:g} / {args.lr / 10:g} / "
                             f"{args.lr / 100:g} for 1/2, 1/4, 1/4 of the epochs",
                "epochs": epochs, "random-label net": f"init std {RANDOM_LABEL_STD}, {random_epochs} epochs"}
    folder.json("summary.json", {"settings": settings, "networks": networks,
                                 "claims": [c.as_dict() for c in claims]})
    write_report(
        folder, "Normalized train and test loss of bias-free ReLU conv nets", PAPER, settings,
        [("Every network: errors and cross-entropy before normalization, cross-entropy after dividing each "
          "layer by its Frobenius norm, and the product of the norms.", networks)],
        [("losses.png", "Test vs train loss before (left) and after (right) normalizing each layer by its "
                        "Frobenius norm, coloured by init std; the star learned random labels "
                        "(papers/001 figures 4-2, 4-3, 4-6)"),
         ("norms.png", "Test error vs init std (figure 4-4); normalized test loss vs product of norms, test "
                       "error vs normalized test loss, test error vs product of norms (figure 4-7 a-c)")],
        claims,
        notes=["The paper uses CIFAR-10 (50k images, 32x32x3) and 5x5 convolutions with 32 or 64 channels, "
               "and 200 epochs; here digits (1258 training images, 8x8) and 3x3 convolutions.",
               f"The paper's init stds run from 1e-4 to 0.15; here from {min(stds):g} to {max(stds):g}, "
               f"around the He scale sqrt(2 / fan_in) of the three layers ({(2 / 9) ** 0.5:.2g}, "
               f"{(2 / (9 * channels)) ** 0.5:.2g}, {(2 / (16 * channels)) ** 0.5:.2g}).",
               "The momentum (0.9) is not stated in the paper.",
               f"Divided by the product of the norms (here {low_product:.3g} to {high_product:.3g}), the "
               f"outputs are small: every normalized loss lies between {low_loss:.4f} and ln 10 = "
               f"{numpy.log(10):.4f}, the loss of uniform predictions, where the cross-entropy is nearly "
               f"linear in the outputs.",
               "Claims about trained networks use only those that reached zero training error, as the "
               "paper's; the table marks each network's training error."])
    print(f"{NAME}: {sum(c.verdict == HOLDS for c in claims)} of {len(claims)} claims hold; "
          f"wrote {folder.path}")
    return {"networks": networks, "claims": [c.as_dict() for c in claims]}


def _rank_claim(statement, x, y, names):
    """A claim that y grows with x: Spearman's rank correlation, significant at SIGNIFICANCE."""
    if len(x) < 4:
        return Claim(statement, INCONCLUSIVE, f"only {len(x)} networks reached zero training error.")
    rho, p = stats.spearmanr(x, y)
    if numpy.isnan(rho):
        return Claim(statement, INCONCLUSIVE, f"{names} do not vary over the {len(x)} networks.")
    verdict = INCONCLUSIVE if p >= SIGNIFICANCE else HOLDS if rho > 0 else DOES_NOT_HOLD
    return Claim(statement, verdict, f"Spearman rank correlation of {names} over {len(x)} networks with "
                                     f"zero training error: {rho:+.3f} (p = {p:.3g}; judged at p < "
                                     f"{SIGNIFICANCE}).")


def _claims(networks):
    fitted = [n for n in networks if n["labels"] == "true" and n["train_error"] == 0]
    random = [n for n in networks if n["labels"] == "random"]
    column = lambda rows, key: numpy.array([n[key] for n in rows], dtype=numpy.float64)  # noqa: E731
    claims = []
    if len(fitted) >= 3:
        r_after = stats.pearsonr(column(fitted, "normalized_train_loss"),
                                 column(fitted, "normalized_test_loss"))[0]
        r_before = stats.pearsonr(column(fitted, "train_loss"), column(fitted, "test_loss"))[0]
        verdict = HOLDS if r_after >= LINEAR[0] else DOES_NOT_HOLD if r_after < LINEAR[1] else INCONCLUSIVE
        everything = fitted + random
        r_all = stats.pearsonr(column(everything, "normalized_train_loss"),
                               column(everything, "normalized_test_loss"))[0]
        claims.append(Claim(
            "Figures 4-2, 4-3, 4-6: after normalization the test loss is linearly related to the training "
            "loss.", verdict,
            f"Pearson correlation of normalized train and test loss over the {len(fitted)} networks with "
            f"zero training error: {r_after:.4f} (holds at >= {LINEAR[0]}, fails below {LINEAR[1]}); "
            f"{r_all:.4f} with the random-label network included."))
        claims.append(Claim(
            "Section 4.2, figure 4-6: the normalized losses, unlike the raw ones, make the training loss a "
            "proxy for the test loss.", HOLDS if r_after > r_before else DOES_NOT_HOLD,
            f"correlation of train and test loss {r_after:.4f} after normalization, {r_before:.4f} before."))
        offsets = column(everything, "normalized_test_loss") - column(everything, "normalized_train_loss")
        slope, intercept = numpy.polyfit(column(everything, "normalized_train_loss"),
                                         column(everything, "normalized_test_loss"), 1)
        if (offsets > 0).all() and 0.8 <= slope <= 1.25:
            verdict = HOLDS
        elif (offsets <= 0).any() or not 0.5 <= slope <= 2:
            verdict = DOES_NOT_HOLD
        else:
            verdict = INCONCLUSIVE
        claims.append(Claim(
            "Figure 4-6: the relation is a line of slope 1 with a positive offset (test above train).",
            verdict,
            f"least-squares fit over {len(everything)} networks (random labels included): slope {slope:.3f}, "
            f"intercept {intercept:+.4f}; normalized test minus train loss from {offsets.min():+.3g} to "
            f"{offsets.max():+.3g} (holds with every offset > 0 and slope in [0.8, 1.25]; fails with an "
            f"offset <= 0 or a slope outside [0.5, 2])."))
    else:
        claims.append(Claim("Figures 4-2, 4-3, 4-6: after normalization the test loss is linearly related to "
                            "the training loss.", INCONCLUSIVE,
                            f"only {len(fitted)} networks reached zero training error."))
    claims.append(_rank_claim("Figure 4-4: the larger the initialization, the larger the final test error.",
                              column(fitted, "init_std"), column(fitted, "test_error"),
                              "init std and test error"))
    claims.append(_rank_claim("Figure 4-7 c: the test error grows with the product of the layers' Frobenius "
                              "norms.",
                              column(fitted, "product_of_norms"), column(fitted, "test_error"),
                              "product of norms and test error"))
    claims.append(_rank_claim("Figure 4-7 b: the test error grows with the normalized test loss.",
                              column(fitted, "normalized_test_loss"), column(fitted, "test_error"),
                              "normalized test loss and test error"))
    return claims


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
    right.set(xlabel="normalized train loss", ylabel="normalized test loss",
              title="after dividing each layer by its Frobenius norm")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    figure.suptitle("Cross-entropy of bias-free ReLU conv nets on digits (papers/001 figures 4-2, 4-3, 4-6)")
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
                    "(papers/001 figures 4-4, 4-7)")
    figure.tight_layout()
    return figure
