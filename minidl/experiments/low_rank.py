"""Low-rank approximation of the first fully connected layer of MLPs of different depth [Heitmann 2019,
sec. 3.3, fig. 8], on the experiment engine.

MLPs with 1 to 4 hidden layers of --width units learn scikit-learn's digits: one trial per depth and
seed; the seed draws the data split and the initialization, so the depths are compared paired by seed.
The first layer's weight W (width x 64) is replaced by its best rank-k approximation W_k (Eckart-Young,
by truncated SVD: minidl.analysis.compression), with k at the elbow of the residual curve
k -> ||W - W_k||_F, 1 <= k < r (the paper's choice of rank). As figure 8 does, the table gives for each
depth the number of units, the aspect ratio Q = n / m of W (m units, n inputs), the elbow rank k, the
share of the Frobenius norm kept, 100 ||W_k||_F / ||W||_F, and the drop of test accuracy a - a_proj; the
same at the paper's rank k = 10; and the accuracy for every rank is drawn. The elbow rank of the untrained
first layer is the null control of the claim that the elbow sits at 10.

Writes into --out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
    networks.csv        one row per depth and seed: elbow ranks, norm kept, accuracies
    ranks.csv           test accuracy after the rank-k approximation, per depth, seed and k
    table.csv           figure 8's table, one row per depth, means over seeds
    low_rank.png        residual curves with their elbows, accuracy vs rank, drop vs depth
"""
import numpy
from matplotlib import ticker

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import compression
from minidl.experiments import engine, stats
from minidl.experiments.engine import Setting, positive
from minidl.experiments.output import figure_grid

NAME = "low-rank"
HELP = "rank-k approximation (elbow rank) of the first layer of MLPs of 1-4 hidden layers: norm kept " \
       "and accuracy drop [Heitmann 2019, sec. 3.3]"
DEPTHS = (1, 2, 3, 4)
PAPER_RANK = 10
RANKS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)

SETTINGS = (
    Setting("width", 256, f"units of every hidden layer (above {PAPER_RANK}, the paper's rank)",
            check=lambda v: None if v > PAPER_RANK else f"must be above {PAPER_RANK}, the paper's rank"),
    Setting("epochs", 30, "training epochs", check=positive),
    Setting("lr", 0.02, "SGD learning rate (momentum 0.9)", check=positive),
    Setting("batch_size", 32, "rows per update", check=positive),
)
QUICK = {"seeds": 2, "epochs": 4, "width": 64}

NETWORK_COLUMNS = {
    "depth": "hidden layers", "seed": "seed of the trial", "units": "units m of the first layer",
    "inputs": "inputs n of the first layer", "Q": "aspect ratio n / m", "elbow_rank": "elbow rank k",
    "untrained_elbow_rank": "elbow rank of the same layer before training (null control)",
    "norm_kept_%": "100 ||W_k||_F / ||W||_F at the elbow rank", "accuracy": "test accuracy",
    "projected_accuracy": "test accuracy with W replaced by W_k at the elbow rank",
    "drop_points": "a - a_proj at the elbow rank, in accuracy points",
    f"norm_kept_%_at_k{PAPER_RANK}": f"100 ||W_k||_F / ||W||_F at k = {PAPER_RANK}",
    f"drop_points_at_k{PAPER_RANK}": f"a - a_proj at k = {PAPER_RANK}, in accuracy points"}
RANK_COLUMNS = {"depth": "hidden layers", "seed": "seed of the trial", "rank": "rank k of W_k",
                "accuracy": "test accuracy with W replaced by W_k",
                "unapproximated": "test accuracy of the network as trained"}
TABLE_COLUMNS = {
    "hidden_layers": "hidden layers", "units": "units m of the first layer", "Q": "aspect ratio n / m",
    "elbow_rank_k": "median elbow rank over seeds", "elbow_ranks": "each seed's elbow rank",
    "untrained_elbow_ranks": "each seed's elbow rank before training",
    "norm_kept_%": "100 ||W_k||_F / ||W||_F at the elbow, mean over seeds",
    "accuracy": "test accuracy, mean over seeds", "drop_points": "a - a_proj at the elbow, mean (points)",
    f"norm_kept_%_at_k{PAPER_RANK}": f"norm kept at k = {PAPER_RANK}, mean",
    f"drop_points_at_k{PAPER_RANK}": f"a - a_proj at k = {PAPER_RANK}, mean (points)",
    "seeds": "trials averaged"}


def build(depth, width):
    """Linear(64, width) ReLU, then depth - 1 more (Linear(width, width) ReLU), then Linear(width, 10)."""
    layers = [nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def norm_kept(layer, k):
    """100 ||W_k||_F / ||W||_F = 100 sqrt(1 - ||W - W_k||_F^2 / ||W||_F^2) for the weight of ``layer``."""
    e = compression.residuals(layer)
    return float(100 * numpy.sqrt(max(1 - (e[k] / e[0]) ** 2, 0.0)))


def projected_accuracy(model, k, X, y):
    """Test accuracy with the first layer's W replaced by W_k (factorized, minidl.analysis.compression)."""
    compressed, _ = compression.compress(model, {"0": k})
    return train.evaluate(compressed, nn.functional.cross_entropy, X, y)["accuracy"]


def conditions(settings):
    return [{"depth": depth} for depth in DEPTHS]


def trial(settings, condition, seed):
    """Train one MLP from ``seed`` and approximate its first layer at the elbow rank and every rank."""
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    data = load_digits(seed=seed)
    (X, y), (X_test, y_test) = (flat(data.train[0]), data.train[1]), (flat(data.test[0]), data.test[1])
    minidl.manual_seed(seed)
    width = settings["width"]
    model = build(condition["depth"], width)
    untrained_rank = compression.elbow_rank(model[0])
    optimizer = optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9)
    train.fit(model, nn.functional.cross_entropy, optimizer, X, y, settings["epochs"], settings["batch_size"],
              progress=False)
    layer = model[0]
    accuracy = train.evaluate(model, nn.functional.cross_entropy, X_test, y_test)["accuracy"]
    k = compression.elbow_rank(layer)
    ranks = sorted({*[r for r in RANKS if r <= min(width, 64)], k, PAPER_RANK})
    projected = {rank: float(projected_accuracy(model, rank, X_test, y_test)) for rank in ranks}
    return {"units": layer.out_features, "inputs": layer.in_features, "elbow_rank": int(k),
            "untrained_elbow_rank": int(untrained_rank), "norm_kept_%": norm_kept(layer, k),
            f"norm_kept_%_at_k{PAPER_RANK}": norm_kept(layer, PAPER_RANK), "accuracy": float(accuracy),
            "projected": [[rank, value] for rank, value in projected.items()],
            "residuals": [float(v) for v in compression.residuals(layer)]}


# --------------------------------------------------------------------- finishing
def _network_row(t):
    r, projected = t.records, dict(map(tuple, t.records["projected"]))
    return {"depth": t.condition["depth"], "seed": t.seed, "units": r["units"], "inputs": r["inputs"],
            "Q": r["inputs"] / r["units"], "elbow_rank": r["elbow_rank"],
            "untrained_elbow_rank": r["untrained_elbow_rank"], "norm_kept_%": r["norm_kept_%"],
            "accuracy": r["accuracy"], "projected_accuracy": projected[r["elbow_rank"]],
            "drop_points": 100 * (r["accuracy"] - projected[r["elbow_rank"]]),
            f"norm_kept_%_at_k{PAPER_RANK}": r[f"norm_kept_%_at_k{PAPER_RANK}"],
            f"drop_points_at_k{PAPER_RANK}": 100 * (r["accuracy"] - projected[PAPER_RANK])}


def _by_depth(networks, key):
    """{depth: [value per seed, in seed order]}."""
    return {depth: [n[key] for n in networks if n["depth"] == depth] for depth in DEPTHS}


def distance_from_paper(ranks_by_depth):
    """Per seed, the mean over depths of |elbow rank - 10|."""
    return list(numpy.mean([numpy.abs(numpy.asarray(v, dtype=numpy.float64) - PAPER_RANK)
                            for v in ranks_by_depth.values()], axis=0))


def _claims(settings, networks):
    smoke, claims = settings["quick"], []
    for key, where in ((f"drop_points_at_k{PAPER_RANK}", f"at the paper's rank k = {PAPER_RANK}"),
                       ("drop_points", "at the elbow rank")):
        drops = _by_depth(networks, key)
        claims.append(stats.ordering(
            f"[Heitmann 2019, fig. 8]: the deeper the model, the smaller the drop in test accuracy after the "
            f"low-rank approximation of the first fully connected layer ({where}; points).",
            [(f"drop({depth} layers)", drops[depth]) for depth in DEPTHS], "greater", smoke=smoke))
    drops = _by_depth(networks, f"drop_points_at_k{PAPER_RANK}")
    deepest, shallowest = DEPTHS[-1], DEPTHS[0]
    claims.append(stats.paired(
        f"[Heitmann 2019, fig. 8]: the deepest model drops less than the shallowest after the rank "
        f"{PAPER_RANK} approximation (the trend as a whole, without every step).", drops[deepest],
        drops[shallowest], "less", effect=f"drop({deepest} layers) - drop({shallowest} layer) (points)",
        smoke=smoke))
    effect = f"|elbow rank - {PAPER_RANK}| (average of the depths)"
    claims.append(stats.one_sample(
        f"[Heitmann 2019, sec. 3.3]: the elbow rank of the first fully connected layer is {PAPER_RANK}, the "
        f"number of classes, whatever the model (within 1, the elbow's own jitter).",
        distance_from_paper(_by_depth(networks, "elbow_rank")), "less", 1.0, effect=effect, smoke=smoke,
        control=stats.one_sample("the same of the untrained first layers",
                                 distance_from_paper(_by_depth(networks, "untrained_elbow_rank")), "less",
                                 1.0, effect=effect, smoke=smoke)))
    return claims


def _table(networks):
    table = []
    for depth in DEPTHS:
        group = [n for n in networks if n["depth"] == depth]
        column = lambda key: numpy.array([n[key] for n in group], dtype=numpy.float64)  # noqa: E731
        table.append({"hidden_layers": depth, "units": group[0]["units"], "Q": group[0]["Q"],
                      "elbow_rank_k": float(numpy.median(column("elbow_rank"))),
                      "elbow_ranks": " ".join(str(n["elbow_rank"]) for n in group),
                      "untrained_elbow_ranks": " ".join(str(n["untrained_elbow_rank"]) for n in group),
                      "norm_kept_%": column("norm_kept_%").mean(), "accuracy": column("accuracy").mean(),
                      "drop_points": column("drop_points").mean(),
                      f"norm_kept_%_at_k{PAPER_RANK}": column(f"norm_kept_%_at_k{PAPER_RANK}").mean(),
                      f"drop_points_at_k{PAPER_RANK}": column(f"drop_points_at_k{PAPER_RANK}").mean(),
                      "seeds": len(group)})
    return table


def finish(settings, trials):
    """networks.csv, ranks.csv, figure 8's table, low_rank.png (means over seeds) and the claims."""
    networks = [_network_row(t) for t in trials]
    sweeps = [{"depth": t.condition["depth"], "seed": t.seed, "rank": rank, "accuracy": value,
               "unapproximated": t.records["accuracy"]} for t in trials for rank, value in t.records["projected"]]
    residual_curves = {depth: [t.records["residuals"] for t in engine.select(trials, depth=depth)]
                       for depth in DEPTHS}
    table = _table(networks)
    width, seeds = settings["width"], settings["seeds"]
    return engine.Results(
        title="Low-rank approximation of the first layer of MLPs of different depth",
        paper="[Heitmann 2019, sec. 3.3, fig. 8]",
        claims=_claims(settings, networks),
        tables=[engine.Table("table.csv", "Figure 8's table: the first layer's units and aspect ratio Q, the "
                             "elbow rank k, the share of the Frobenius norm kept and the drop of test accuracy "
                             f"a - a_proj in points, and the same at k = {PAPER_RANK}.", table, TABLE_COLUMNS,
                             in_report=True),
                engine.Table("networks.csv", "One row per depth and seed.", networks, NETWORK_COLUMNS),
                engine.Table("ranks.csv", "One row per depth, seed and rank.", sweeps, RANK_COLUMNS)],
        figures=[engine.Figure("low_rank.png", "Left: relative residual ||W - W_k||_F / ||W||_F of the first "
                               "layer vs k, elbows marked; middle: test accuracy after the rank-k "
                               "approximation vs k, dashed: unapproximated; right: accuracy drop at the "
                               "elbow rank vs depth (mean and sd over seeds)",
                               _figure(networks, sweeps, residual_curves), engine.over_seeds(seeds))],
        summary={"table": table},
        notes=["The paper approximates the first fully connected layer of Conv-2, Conv-6 and VGG19 on "
               "CIFAR-10, where depth grows with the convolutions in front of it and Q falls with it "
               f"(64, 16, 1); here MLPs on digits whose first layer is the same ({width} x 64, Q = "
               f"{64 / width:g}) at every depth, so depth is the only thing that changes.",
               "VGG19 in the paper trains longer and with a learning-rate schedule; here every depth trains "
               f"for {settings['epochs']} epochs at the same fixed learning rate {settings['lr']:g}.",
               "The paper's CIFAR-10 and digits both have 10 classes, so the elbow at 10 can be compared; "
               "the elbow of the untrained layer is its null control (an elbow the method finds before "
               "training is not learned).",
               f"The paper averages 10 trainings of Conv-2 and Conv-6 and reports one VGG19; here {seeds} "
               "seed(s) per depth, the depths compared paired by seed (same data split and seed)."])


def _figure(networks, sweeps, residual_curves):
    figure, axes = figure_grid(1, 3, panel=(5.5, 4.6))
    left, middle, right = axes[0]
    for i, depth in enumerate(DEPTHS):
        color = f"C{i}"
        curves = numpy.array(residual_curves[depth])
        relative = (curves / curves[:, :1]).mean(axis=0)
        k = numpy.median([n["elbow_rank"] for n in networks if n["depth"] == depth])
        left.plot(numpy.arange(len(relative)), relative, color=color, label=f"{depth} hidden layer(s)")
        left.scatter([k], [numpy.interp(k, numpy.arange(len(relative)), relative)], color=color,
                     edgecolor="k", zorder=3)
        group = [r for r in sweeps if r["depth"] == depth and r["rank"] in RANKS]
        ranks = sorted({r["rank"] for r in group})
        accuracy = [100 * numpy.mean([r["accuracy"] for r in group if r["rank"] == rank]) for rank in ranks]
        middle.plot(ranks, accuracy, marker=".", color=color, label=f"{depth} hidden layer(s)")
        middle.axhline(100 * numpy.mean([n["accuracy"] for n in networks if n["depth"] == depth]), color=color,
                       linestyle="--", linewidth=0.8)
        drops = [n["drop_points"] for n in networks if n["depth"] == depth]
        right.errorbar([depth], [numpy.mean(drops)], yerr=[numpy.std(drops)], marker="o", color=color,
                       capsize=3)
    left.axvline(PAPER_RANK, color="0.6", linestyle=":", linewidth=0.8)
    left.set(xlabel="rank k", ylabel="||W - W_k||_F / ||W||_F",
             title="residual of the first layer (dots: elbow)")
    middle.axvline(PAPER_RANK, color="0.6", linestyle=":", linewidth=0.8)
    middle.set(xlabel="rank k (log)", xscale="log", ylabel="test accuracy (%)",
               title="accuracy after the rank-k approximation")
    middle.set_xticks([k for k in (1, 2, 4, 8, 16, 32, 64) if k <= RANKS[-1]])
    middle.xaxis.set_major_formatter(ticker.ScalarFormatter())
    right.set(xlabel="hidden layers", ylabel="a - a_proj (points)", xticks=list(DEPTHS),
              title="accuracy drop at the elbow rank (mean +- sd)")
    for ax in (left, middle, right):
        ax.grid(alpha=0.3, which="both")
    left.legend(fontsize="small")
    middle.legend(fontsize="small")
    figure.suptitle("Low-rank approximation of the first fully connected layer [Heitmann 2019, sec. 3.3, "
                    "fig. 8]")
    figure.tight_layout()
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, conditions=conditions,
                               trial=trial, finish=finish, seeds=10)
