"""Low-rank approximation of the first fully connected layer of MLPs of different depth: papers/002
section 3.3, figure 8.

MLPs with 1 to 4 hidden layers of --width units learn scikit-learn's digits. The first layer's weight
W (width x 64) is replaced by its best rank-k approximation W_k (Eckart-Young, by truncated SVD:
minidl.analysis.compression), with k at the elbow of the residual curve k -> ||W - W_k||_F, 1 <= k < r
(the paper's choice of rank). For each depth the table gives, as figure 8 does, the number of units, the
aspect ratio Q = n / m of W (m units, n inputs), the elbow rank k, the share of the Frobenius norm
kept, 100 ||W_k||_F / ||W||_F, and the drop of test accuracy a - a_proj, averaged over --seeds trainings.
The same is given at the paper's rank k = 10, and the accuracy for every rank is drawn.

Writes into --out:
    networks.csv                 one row per depth and seed: elbow rank, norm kept, accuracies
    ranks.csv                    test accuracy after the rank-k approximation, per depth, seed and k
    summary.csv                  figure 8's table, one row per depth
    low_rank.png                 residual curves with their elbows, accuracy vs rank, drop vs depth
    summary.json, report.md      the settings, the table, and the paper's claims judged
"""
import numpy
from matplotlib import ticker
from scipy import stats
from tqdm import tqdm

import minidl
from data_tools import load_digits
from minidl import nn, optim, train
from minidl.analysis import compression
from minidl.experiments.output import RunFolder, figure_grid
from minidl.experiments.report import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Claim, write_report

NAME = "low-rank"
HELP = "rank-k approximation (elbow rank) of the first layer of MLPs of 1-4 hidden layers: norm kept " \
       "and accuracy drop (papers/002 section 3.3)"
PAPER = ("papers/002_d9f7307f08392869.txt (Heitmann, \"Sources of Redundancy in Neural Networks\"), "
         "section 3.3, figure 8")
DEPTHS = (1, 2, 3, 4)
PAPER_RANK = 10
RANKS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
SIGNIFICANCE = 0.05


def add_arguments(parser):
    parser.add_argument("--width", type=int, default=256, help="units of every hidden layer")
    parser.add_argument("--seeds", type=int, default=10, help="trainings per depth (the paper: 10)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=32)


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


def run(args):
    folder = RunFolder(args.out)
    data = load_digits(seed=args.seed)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    (X, y), (X_test, y_test) = (flat(data.train[0]), data.train[1]), (flat(data.test[0]), data.test[1])
    seeds, epochs, width = (2, 4, 64) if args.quick else (args.seeds, args.epochs, args.width)
    ranks = [k for k in RANKS if k <= min(width, 64)]
    networks, sweeps, residual_curves = [], [], {}
    for depth, s in tqdm([(d, s) for d in DEPTHS for s in range(seeds)], desc=NAME, unit="network",
                         disable=not args.progress):
        minidl.manual_seed(args.seed + s)
        model = build(depth, width)
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        train.fit(model, nn.functional.cross_entropy, optimizer, X, y, epochs, args.batch_size,
                  progress=args.progress)
        layer = model[0]
        accuracy = train.evaluate(model, nn.functional.cross_entropy, X_test, y_test)["accuracy"]
        k = compression.elbow_rank(layer)
        projected = {rank: projected_accuracy(model, rank, X_test, y_test) for rank in sorted({*ranks, k})}
        networks.append({"depth": depth, "seed": s, "units": layer.out_features, "inputs": layer.in_features,
                         "Q": layer.in_features / layer.out_features, "elbow_rank": k,
                         "norm_kept_%": norm_kept(layer, k), "accuracy": accuracy,
                         "projected_accuracy": projected[k], "drop_points": 100 * (accuracy - projected[k]),
                         f"norm_kept_%_at_k{PAPER_RANK}": norm_kept(layer, PAPER_RANK),
                         f"drop_points_at_k{PAPER_RANK}": 100 * (accuracy - projected[PAPER_RANK])})
        sweeps += [{"depth": depth, "seed": s, "rank": rank, "accuracy": projected[rank],
                    "unapproximated": accuracy} for rank in ranks]
        residual_curves.setdefault(depth, []).append(compression.residuals(layer))

    table = _table(networks)
    claims = _claims(networks)
    folder.csv("networks.csv", networks)
    folder.csv("ranks.csv", sweeps)
    folder.csv("summary.csv", table)
    folder.figure("low_rank.png", _figure(networks, sweeps, residual_curves))
    settings = {"data": f"scikit-learn digits, {len(X)} train / {len(X_test)} test (split seed {args.seed}); "
                        f"accuracies on the test set",
                "networks": f"MLPs with {', '.join(map(str, DEPTHS))} hidden layers of {width} ReLU units",
                "training": f"SGD lr {args.lr:g}, momentum 0.9, batch {args.batch_size}, {epochs} epochs",
                "seeds per depth": seeds, "approximated layer": f"the first, W of shape ({width}, 64)",
                "rank": "elbow of k -> ||W - W_k||_F over 1 <= k < r, and the paper's k = 10"}
    folder.json("summary.json", {"settings": settings, "table": table, "networks": networks,
                                 "claims": [c.as_dict() for c in claims]})
    write_report(
        folder, "Low-rank approximation of the first layer of MLPs of different depth", PAPER, settings,
        [(f"Figure 8's table: the first layer's units and aspect ratio Q, the elbow rank k, the share of the "
          f"Frobenius norm kept and the drop of test accuracy a - a_proj in points (mean and std over "
          f"seeds), and the same at k = {PAPER_RANK}.", table)],
        [("low_rank.png", "Left: relative residual ||W - W_k||_F / ||W||_F of the first layer vs k, mean "
                          "over seeds, elbows marked; middle: test accuracy after the rank-k approximation "
                          "vs k, dashed: unapproximated; right: accuracy drop at the elbow rank vs depth")],
        claims,
        notes=["The paper approximates the first fully connected layer of Conv-2, Conv-6 and VGG19 on "
               "CIFAR-10 (depth growing with the convolutions in front of it, and Q = 64, 16, 1); here MLPs "
               f"on digits whose first layer is the same ({width} x 64, Q = {64 / width:g}) at every depth, "
               "so depth is the only thing that changes.",
               "The paper's CIFAR-10 and digits both have 10 classes, so the elbow at 10 can be compared."])
    print(f"{NAME}: {sum(c.verdict == HOLDS for c in claims)} of {len(claims)} claims hold; "
          f"wrote {folder.path}")
    return {"table": table, "claims": [c.as_dict() for c in claims]}


def _table(networks):
    table = []
    for depth in DEPTHS:
        group = [n for n in networks if n["depth"] == depth]
        column = lambda key: numpy.array([n[key] for n in group], dtype=numpy.float64)  # noqa: E731
        table.append({"hidden_layers": depth, "units": group[0]["units"], "Q": group[0]["Q"],
                      "elbow_rank_k": float(numpy.median(column("elbow_rank"))),
                      "elbow_ranks": " ".join(str(n["elbow_rank"]) for n in group),
                      "norm_kept_%": column("norm_kept_%").mean(), "accuracy": column("accuracy").mean(),
                      "drop_points": column("drop_points").mean(), "drop_std": column("drop_points").std(),
                      f"norm_kept_%_at_k{PAPER_RANK}": column(f"norm_kept_%_at_k{PAPER_RANK}").mean(),
                      f"drop_points_at_k{PAPER_RANK}": column(f"drop_points_at_k{PAPER_RANK}").mean(),
                      "seeds": len(group)})
    return table


def _depth_claim(networks, key, rank_text):
    depth = numpy.array([n["depth"] for n in networks], dtype=numpy.float64)
    drop = numpy.array([n[key] for n in networks], dtype=numpy.float64)
    means = ", ".join(f"{d}: {drop[depth == d].mean():.2f}" for d in DEPTHS)
    rho, p = stats.spearmanr(depth, drop)
    verdict = INCONCLUSIVE if numpy.isnan(rho) or p >= SIGNIFICANCE else HOLDS if rho < 0 else DOES_NOT_HOLD
    return Claim(f"Figure 8: the deeper the model, the smaller the drop in test accuracy after the low-rank "
                 f"approximation ({rank_text}).", verdict,
                 f"mean drop in points by hidden layers {means}; Spearman correlation of depth and drop over "
                 f"{len(drop)} networks {rho:+.3f} (p = {p:.3g}; judged at p < {SIGNIFICANCE}).")


def _claims(networks):
    medians = {d: float(numpy.median([n["elbow_rank"] for n in networks if n["depth"] == d])) for d in DEPTHS}
    if all(abs(m - PAPER_RANK) <= 1 for m in medians.values()):
        verdict = HOLDS
    elif all(abs(m - PAPER_RANK) <= 3 for m in medians.values()):
        verdict = INCONCLUSIVE
    else:
        verdict = DOES_NOT_HOLD
    return [
        _depth_claim(networks, "drop_points", "at the elbow rank"),
        _depth_claim(networks, f"drop_points_at_k{PAPER_RANK}", f"at the paper's rank k = {PAPER_RANK}"),
        Claim(f"Section 3.3: the elbow rank of the first fully connected layer is {PAPER_RANK}, the number "
              f"of classes, whatever the model.", verdict,
              "median elbow rank by hidden layers " + ", ".join(f"{d}: {m:g}" for d, m in medians.items())
              + f"; single networks from {min(n['elbow_rank'] for n in networks)} to "
              f"{max(n['elbow_rank'] for n in networks)} (holds when every median is within 1 of "
              f"{PAPER_RANK}, the elbow's own jitter; inconclusive within 3)."),
    ]


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
        group = [r for r in sweeps if r["depth"] == depth]
        ranks = sorted({r["rank"] for r in group})
        accuracy = [100 * numpy.mean([r["accuracy"] for r in group if r["rank"] == rank]) for rank in ranks]
        middle.plot(ranks, accuracy, marker=".", color=color, label=f"{depth} hidden layer(s)")
        middle.axhline(100 * numpy.mean([r["unapproximated"] for r in group]), color=color, linestyle="--",
                       linewidth=0.8)
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
              title="accuracy drop at the elbow rank (mean +- std)")
    for ax in (left, middle, right):
        ax.grid(alpha=0.3, which="both")
    left.legend(fontsize="small")
    middle.legend(fontsize="small")
    figure.suptitle("Low-rank approximation of the first fully connected layer (papers/002 section 3.3, "
                    "figure 8)")
    figure.tight_layout()
    return figure
