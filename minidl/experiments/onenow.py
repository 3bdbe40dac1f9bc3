"""The OneNow market study (papers/000 sections 3.2, 4.3.2, 5.1.2, 5.4; reference/onenow.md).

For each price environment (Normal: i.i.d. N(3, 2^2); Sine: the shuffled 3 + 2 sin wave):

1. value iteration solves the discretized market exactly (Q*, the optimum to regress and to beat);
2. a Q-table data set is simulated (random play, each visited price with Q* of its bin): a training set
   of --train-size rows (by default the original's 1 %: 500 normal, 5000 sine) and a held-out test set;
3. a ReLU network (1-25-3 by default; --outputs 2 is the paper's 1-25-2 accumulate/distribute shape)
   regresses the Q values by momentum SGD under training stochasticity 0, 0.25, 0.5, 0.75 (batches of
   ceil((1 - s) N) rows, minidl.rl.deep_q) and under dropout, every run from the same initialization,
   recording the singular values of its output layer and the test error every epoch;
4. fitted Q-iteration with a target network learns Q from sampled transitions alone;
5. the greedy policies of the network (rate 0, three outputs) and of fitted Q-iteration play held-out
   price paths against hold-only, random and the value-iteration optimum.

Writes into --out:
- spectrum_<env>.png (papers/000 figures 14-15): sigma_max, sigma_min and the condition number of the
  output layer per epoch, and the singular values against the condition number, one line per rate;
- test_error_<env>.png (figures 16-17): test error and its epoch-to-epoch gain against conditioning;
- dropout_<env>.png: conditioning per epoch and test error against conditioning under dropout;
- q_curves.png: Q of each action against price: value iteration, the network, fitted Q-iteration;
- markets.png: price and immediate-reward histograms of the environments;
- evaluation.png: return per episode of every policy on the held-out paths (mean +- sd);
- rollout_<env>.png: the network's policy on one held-out path;
- epochs.csv (one row per run, epoch and layer), fitted_q.csv (loss per update), q_curves.csv,
  evaluation.csv (one row per environment, policy and path) and summary.json.

--quick replaces the sizes by those of QUICK (40 epochs, 200 training rows, ...): under a minute.
"""
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from tqdm import tqdm  # noqa: E402

from data_tools.onenow import simulate_table  # noqa: E402
from minidl.analysis import plots  # noqa: E402
from minidl.experiments.output import RunFolder  # noqa: E402
from minidl.rl.deep_q import fitted_q_iteration, regress_q, sample_transitions  # noqa: E402
from minidl.rl.discretize import Discretizer  # noqa: E402
from minidl.rl.evaluation import baselines, evaluate, held_out_paths, plot_rollout, rollout  # noqa: E402
from minidl.rl.markets import Action, make_market  # noqa: E402
from minidl.rl.mdp import market_mdp  # noqa: E402
from minidl.rl.tabular import value_iteration  # noqa: E402

NAME = "onenow"
HELP = "deep Q on the OneNow markets: output-layer conditioning under training stochasticity, policies"
ENVIRONMENTS = ("normal", "sine")
RATES = (0.0, 0.25, 0.5, 0.75)
ACTION_NAMES = tuple(action.name.lower() for action in Action)
ACTION_COLOURS = ("tab:green", "tab:red", "tab:gray")
POLICIES = ("hold", "random", "network", "fitted Q", "optimal")
TRAIN_SIZE = {"normal": 500, "sine": 5000}   # 1 % of the original's 50 000 and 500 000 samples
PATH_SEED = 1_000_000   # held-out paths use seeds PATH_SEED + 1000 * seed + i, far from every training seed

QUICK = {"epochs": 40, "seeds": 2, "train_size": 200, "test_size": 1000, "paths": 5, "transitions": 4000,
         "fqi_iterations": 600, "target_every": 30}


def add_arguments(parser):
    parser.add_argument("--env", choices=("normal", "sine", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5,
                        help="initializations of the stochasticity sweep (seed, seed + 1, ...); the figures "
                             "show the first, summary.json the spread over all")
    parser.add_argument("--outputs", type=int, choices=(2, 3), default=3,
                        help="Q columns the swept network regresses: 3 (all actions) or 2 (the paper's "
                             "accumulate and distribute)")
    parser.add_argument("--hidden", type=int, default=25)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--dropout", type=float, nargs="*", default=[0.1, 0.25],
                        help="dropout rates run at stochasticity 0, besides the baseline without dropout")
    parser.add_argument("--bins", type=int, default=50, help="price bins of the Q-table")
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--train-size", type=int, default=None,
                        help="training rows (default: the original's 1 %%: 500 normal, 5000 sine)")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--transitions", type=int, default=20_000, help="sampled for fitted Q-iteration")
    parser.add_argument("--fqi-iterations", type=int, default=3000)
    parser.add_argument("--target-every", type=int, default=50, help="updates between target copies")
    parser.add_argument("--paths", type=int, default=20, help="held-out price paths per environment")


def run(args):
    started = time.perf_counter()
    folder = RunFolder(args.out)
    settings = _settings(args)
    names = ENVIRONMENTS if args.env == "both" else (args.env,)
    per_env = len(RATES) * settings["seeds"] + len(settings["dropout"]) + (settings["outputs"] == 2) + 2
    tasks = len(names) * per_env
    bar = tqdm(total=tasks, desc="onenow", unit="task", disable=not args.progress)
    studies = {name: _study(name, settings, args, bar) for name in names}
    bar.close()

    folder.csv("epochs.csv", [row for study in studies.values() for row in study["epochs"]])
    folder.csv("fitted_q.csv", [row for study in studies.values() for row in study["fitted_q_rows"]])
    folder.csv("q_curves.csv", [row for study in studies.values() for row in study["q_rows"]])
    folder.csv("evaluation.csv", [row for study in studies.values() for row in study["evaluation_rows"]])
    for name, study in studies.items():
        folder.figure(f"spectrum_{name}.png", _spectrum_figure(name, study))
        folder.figure(f"test_error_{name}.png", _test_error_figure(name, study))
        if settings["dropout"]:
            folder.figure(f"dropout_{name}.png", _dropout_figure(name, study))
        folder.figure(f"rollout_{name}.png", plot_rollout(
            study["rollout"], title=f"{name} market: the network's greedy policy on a held-out path"))
    folder.figure("q_curves.png", _q_curves_figure(studies))
    folder.figure("markets.png", _markets_figure(studies))
    folder.figure("evaluation.png", _evaluation_figure(studies, settings["paths"]))

    summary = {"settings": settings,
               "environments": {name: study["summary"] for name, study in studies.items()},
               "seconds": time.perf_counter() - started}
    folder.json("summary.json", summary)
    _print_summary(summary, folder.path)
    return summary


def _settings(args):
    settings = {"environments": args.env, "epochs": args.epochs, "seeds": args.seeds, "outputs": args.outputs,
                "hidden": args.hidden, "lr": args.lr, "momentum": args.momentum,
                "dropout": [float(p) for p in args.dropout], "bins": args.bins, "gamma": args.gamma,
                "train_size": args.train_size, "test_size": args.test_size,
                "transitions": args.transitions, "fqi_iterations": args.fqi_iterations,
                "target_every": args.target_every, "paths": args.paths, "seed": args.seed,
                "quick": args.quick, "stochasticity_rates": list(RATES)}
    if args.quick:
        settings.update(QUICK)
    return settings


# --------------------------------------------------------------------- one environment
def _study(name, settings, args, bar):
    """Everything the job computes for one environment, as plain records and arrays."""
    seed = settings["seed"]
    env = make_market(name)
    discretizer = Discretizer.for_env(env, settings["bins"])
    mdp = market_mdp(env, discretizer)
    q_star, _ = value_iteration(mdp, settings["gamma"])
    train_size = settings["train_size"] or TRAIN_SIZE[name]
    train_table = simulate_table(env, q_star, discretizer, train_size, seed, name)
    test_table = simulate_table(env, q_star, discretizer, settings["test_size"], seed + 1, name)
    columns = slice(0, settings["outputs"])
    data = (train_table.column("price"), train_table.q_values[:, columns],
            test_table.column("price"), test_table.q_values[:, columns])

    def regress(stochasticity=0.0, dropout=0.0, sets=data, init_seed=seed):
        result = regress_q(*sets, hidden=(settings["hidden"],), stochasticity=stochasticity,
                           dropout=dropout, lr=settings["lr"], momentum=settings["momentum"],
                           epochs=settings["epochs"], seed=init_seed, progress=args.progress)
        bar.update()
        return result

    # the same data for every initialization: the spread over seeds is the initialization's alone
    sweeps = {init_seed: {rate: regress(stochasticity=rate, init_seed=init_seed) for rate in RATES}
              for init_seed in range(seed, seed + settings["seeds"])}
    sweep = sweeps[seed]
    dropouts = {p: regress(dropout=p) for p in settings["dropout"]}
    policy_net = sweep[0.0] if settings["outputs"] == 3 else regress(sets=(
        train_table.column("price"), train_table.q_values, test_table.column("price"), test_table.q_values))

    transitions = sample_transitions(env, settings["transitions"], seed + 2)
    fitted = fitted_q_iteration(transitions, settings["gamma"], settings["fqi_iterations"],
                                settings["target_every"], hidden=(32,), lr=settings["lr"],
                                momentum=settings["momentum"], batch_size=min(512, len(transitions)),
                                seed=seed, progress=args.progress)
    bar.update()

    seeds = [PATH_SEED + 1000 * seed + i for i in range(settings["paths"])]
    policies = baselines(q_star, discretizer, seed=seed)
    policies.update({"network": policy_net.network.policy(), "fitted Q": fitted.network.policy()})
    scores = evaluate(env, {key: policies[key] for key in POLICIES}, seeds)
    example = rollout(env, policies["network"], held_out_paths(env.prices, env.episode_length, seeds[:1])[0])
    bar.update()

    runs = {f"s = {rate:g} (B = {result.batch_size})": _output_records(result)
            for rate, result in sweep.items()}
    dropout_runs = {"no dropout": _output_records(sweep[0.0])}
    dropout_runs.update({f"dropout {p:g}": _output_records(result) for p, result in dropouts.items()})
    network_q = policy_net.network.predict(mdp.bin_means)
    fitted_q = fitted.network.predict(mdp.bin_means)
    return {
        "runs": runs, "dropout_runs": dropout_runs,
        "prices": test_table.column("price"), "env": env, "mdp": mdp, "q_star": q_star,
        "network": policy_net.network, "fitted": fitted.network, "scores": scores, "rollout": example,
        "epochs": _epoch_rows(name, sweeps, dropouts, seed),
        "fitted_q_rows": [{"env": name, "update": i + 1, "loss": float(loss)}
                          for i, loss in enumerate(fitted.losses)],
        "q_rows": _q_rows(name, mdp, q_star, network_q, fitted_q),
        "evaluation_rows": [{"env": name, "policy": policy, "path_seed": path_seed, "return": float(value)}
                            for policy, score in scores.items()
                            for path_seed, value in zip(seeds, score.returns)],
        "summary": dict(_summary(sweeps, dropouts, q_star, network_q, fitted, fitted_q, scores,
                                 len(transitions)), train_size=train_size, test_size=len(test_table)),
    }


def _epoch_rows(name, sweeps, dropouts, seed):
    """One row per run, epoch and tracked layer: the spectrum statistics and the errors."""
    rows = []
    runs = [(init_seed, rate, 0.0, result)
            for init_seed, sweep in sweeps.items() for rate, result in sweep.items()]
    runs += [(seed, 0.0, p, result) for p, result in dropouts.items()]
    for init_seed, rate, p, result in runs:
        for record in result.tracker.history:
            row = {"env": name, "seed": init_seed, "stochasticity": rate, "dropout": p,
                   "batch_size": result.batch_size,
                   "epoch": record["epoch"], "layer": record["layer"],
                   "output_layer": record["layer"] == result.layer}
            row.update({key: record[key] for key in ("sigma_max", "sigma_min", "condition_number",
                                                     "stable_rank")})
            row.update({"train_mse": record.get("train_mse"), "test_mse": record["test_mse"],
                        "test_gain": record.get("test_gain"),
                        "spectrum": " ".join(f"{value:.9g}" for value in record["spectrum"])})
            rows.append(row)
    return rows


def _q_rows(name, mdp, q_star, network_q, fitted_q):
    rows = []
    for b, price in enumerate(mdp.bin_means):
        row = {"env": name, "bin": b, "price": float(price), "probability": float(mdp.price_probabilities[b])}
        for source, table in (("value_iteration", q_star), ("network", network_q), ("fitted_q", fitted_q)):
            row.update({f"{source}_{action}": float(table[b, a]) for a, action in enumerate(ACTION_NAMES)})
        rows.append(row)
    return rows


def _output_records(result):
    """The tracker's records of the output layer, under the layer name "output" (its path in the
    model depends on whether there is dropout)."""
    return [dict(record, layer="output") for record in result.tracker.records(result.layer)]


def _output_series(result, key):
    return result.tracker.series(key, result.layer)[1]


def _summary(sweeps, dropouts, q_star, network_q, fitted, fitted_q, scores, n_transitions):
    """Per rate: the first seed's run and the spread over seeds; dropout; fitted Q; the evaluation."""
    def run_summary(result):
        kappa = _output_series(result, "condition_number")
        history = result.history
        return {"batch_size": result.batch_size,
                "condition_number": {"initial": float(kappa[0]), "min": float(kappa.min()),
                                     "max": float(kappa.max()), "final": float(kappa[-1])},
                "sigma_max_final": float(_output_series(result, "sigma_max")[-1]),
                "sigma_min_final": float(_output_series(result, "sigma_min")[-1]),
                "test_mse_initial": history[0]["test_mse"], "test_mse_final": history[-1]["test_mse"],
                "train_mse_final": history[-1].get("train_mse")}

    def spread(results):
        kappas = [_output_series(result, "condition_number") for result in results]
        finals = np.array([kappa[-1] for kappa in kappas])
        errors = np.array([result.history[-1]["test_mse"] for result in results])
        return {"seeds": len(results), "condition_number_min": float(min(k.min() for k in kappas)),
                "condition_number_max": float(max(k.max() for k in kappas)),
                "condition_number_final_mean": float(finals.mean()),
                "condition_number_final_sd": float(finals.std()),
                "test_mse_final_mean": float(errors.mean()), "test_mse_final_sd": float(errors.std())}

    first = next(iter(sweeps.values()))
    optimal = q_star.argmax(axis=1)
    return {
        "stochasticity": {f"{rate:g}": dict(run_summary(result),
                                            over_seeds=spread([sweep[rate] for sweep in sweeps.values()]))
                          for rate, result in first.items()},
        "dropout": {f"{p:g}": run_summary(result) for p, result in dropouts.items()},
        "network_policy_agreement": float(np.mean(network_q.argmax(axis=1) == optimal)),
        "network_q_max_abs_error": float(np.abs(network_q - q_star).max()),
        "fitted_q": {"transitions": n_transitions, "target_updates": fitted.target_updates,
                     "final_loss": float(fitted.losses[-50:].mean()),
                     "policy_agreement": float(np.mean(fitted_q.argmax(axis=1) == optimal)),
                     "q_max_abs_error": float(np.abs(fitted_q - q_star).max()),
                     "q_mean_abs_error": float(np.abs(fitted_q - q_star).mean())},
        "evaluation": {policy: {"mean": score.mean, "std": score.std} for policy, score in scores.items()},
    }


# --------------------------------------------------------------------- figures
def _widen_earlier_runs(ax, labels):
    """Draw the lines of earlier runs wider, so that runs which coincide (s = 0 and s = 0.25 both make
    one update per epoch on nearly the same gradient) stay visible underneath, and redo the legend."""
    for line in ax.lines:
        index = next((i for i, label in enumerate(labels) if line.get_label().startswith(label)), None)
        if index is not None:
            line.set_linewidth(1.2 + 1.2 * (len(labels) - 1 - index))
    if ax.get_legend() is not None:
        ax.legend(fontsize="small")


def _plain_numbers(ax, x=True, y=True):
    """Label the log axes of ``ax`` with plain numbers at 1, 2, 3 and 5 times powers of ten (the
    conditioning and the singular values span about a decade, where matplotlib labels little)."""
    def label(value, _):
        mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0.0
        return f"{value:g}" if np.isclose(mantissa, [1, 2, 3, 5], rtol=1e-6).any() else ""

    for axis, scale, wanted in ((ax.xaxis, ax.get_xscale(), x), (ax.yaxis, ax.get_yscale(), y)):
        if wanted and scale == "log":
            axis.set_major_formatter(FuncFormatter(label))
            axis.set_minor_formatter(FuncFormatter(label))


def _spectrum_figure(name, study):
    """papers/000 figures 14-15: the output layer's singular values and conditioning."""
    figure, axes = plt.subplots(1, 3, figsize=(17, 4.6), layout="constrained")
    plots.singular_values_vs_epochs(study["runs"], axes=axes[:2])
    plots.singular_values_vs_conditioning(study["runs"], ax=axes[2])
    for ax in axes:
        _widen_earlier_runs(ax, list(study["runs"]))
        _plain_numbers(ax)
    figure.suptitle(f"{name} market: output layer of the Q network under training stochasticity s "
                    f"(batch B)")
    return figure


def _test_error_figure(name, study):
    """papers/000 figures 16-17: test error and its epoch-to-epoch gain against conditioning."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    plots.test_error_vs_conditioning(study["runs"], error="test_mse",
                                     ylabel="test mse (log)", ax=left, title="test error vs conditioning")
    left.set_yscale("log")
    _widen_earlier_runs(left, list(study["runs"]))
    _gain_vs_conditioning(study["runs"], right)
    _plain_numbers(left, y=False)
    _plain_numbers(right)
    figure.suptitle(f"{name} market: held-out test error of the Q network against its output layer's "
                    f"conditioning")
    return figure


def _gain_vs_conditioning(runs, ax):
    """The epoch-to-epoch gain of the test error (previous test mse - test mse) against the output
    layer's condition number, one point per epoch (papers/000 figures 16-17, right)."""
    for (label, records), marker in zip(runs.items(), "osD^v<>"):
        gained = [r for r in records if r.get("test_gain") is not None]
        ax.scatter([r["condition_number"] for r in gained], [r["test_gain"] for r in gained], s=16,
                   marker=marker, facecolors="none", edgecolors=f"C{len(ax.collections)}", alpha=0.8,
                   label=label)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set(xlabel="condition number (log)", ylabel="gain: previous test mse - test mse (symlog)",
           title="epoch-to-epoch gain vs conditioning")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")


def _dropout_figure(name, study):
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    for label, records in study["dropout_runs"].items():
        left.plot([r["epoch"] for r in records], [r["condition_number"] for r in records], label=label)
    left.set(xlabel="epoch", ylabel="condition number", title="output layer conditioning per epoch")
    left.grid(alpha=0.3)
    left.legend(fontsize="small")
    plots.test_error_vs_conditioning(study["dropout_runs"], error="test_mse",
                                     ylabel="test mse (log)", ax=right, title="test error vs conditioning")
    right.set_yscale("log")
    _plain_numbers(right, y=False)
    figure.suptitle(f"{name} market: dropout after the hidden layer (full-batch updates)")
    return figure


def _q_curves_figure(studies):
    figure, axes = plt.subplots(1, len(studies), figsize=(7 * len(studies), 4.8), squeeze=False,
                                layout="constrained")
    for ax, (name, study) in zip(axes[0], studies.items()):
        mdp = study["mdp"]
        inner = mdp.price_probabilities > 1e-4
        low, high = mdp.bin_means[inner].min(), mdp.bin_means[inner].max()
        prices = np.linspace(low, high, 400)
        network, fitted = study["network"].predict(prices), study["fitted"].predict(prices)
        for a, (action, colour) in enumerate(zip(ACTION_NAMES, ACTION_COLOURS)):
            ax.plot(mdp.bin_means[inner], study["q_star"][inner, a], "o", color=colour, markersize=3.5,
                    label=f"{action}: value iteration")
            ax.plot(prices, network[:, a], "-", color=colour, linewidth=1.4, label=f"{action}: network")
            ax.plot(prices, fitted[:, a], ":", color=colour, linewidth=1.8,
                    label=f"{action}: fitted Q-iteration")
        ax.set(xlabel="price", ylabel="Q(price, action)", title=f"{name} market")
        ax.grid(alpha=0.3)
    figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3,
                  fontsize="small")
    figure.suptitle("Q of each action against price: value iteration (Q*), the regressed network, "
                    "fitted Q-iteration")
    return figure


def _markets_figure(studies):
    figure, axes = plt.subplots(len(studies), 2, figsize=(12, 3.6 * len(studies)), squeeze=False,
                                layout="constrained")
    for (price_ax, reward_ax), (name, study) in zip(axes, studies.items()):
        prices, env = study["prices"], study["env"]
        mdp = study["mdp"]
        price_ax.hist(prices, bins=60, density=True, color="tab:blue", alpha=0.6,
                      label=f"{len(prices)} simulated (test set)")
        widths = np.diff(mdp.discretizer.grid.edges)
        price_ax.stairs(mdp.price_probabilities / widths, mdp.discretizer.grid.edges, color="k",
                        label="exact: bin probability / width (end bins hold the tails)")
        price_ax.axvline(env.reference_price, color="k", linestyle="--", linewidth=1,
                         label=f"reference price m = {env.reference_price:.2f}")
        price_ax.set(xlabel="price", ylabel="density", title=f"{name} market: prices")
        price_ax.set_ylim(top=1.4 * price_ax.get_ylim()[1])          # room for the legend above the data
        price_ax.legend(fontsize="small", loc="upper center")
        for action in (Action.ACCUMULATE, Action.DISTRIBUTE):
            reward_ax.hist(env.reward(prices, action), bins=60, histtype="stepfilled", alpha=0.45,
                           color=ACTION_COLOURS[action], label=ACTION_NAMES[action])
        reward_ax.axvline(-env.hold_penalty, color=ACTION_COLOURS[Action.HOLD], linestyle="--",
                          label=f"hold (always {-env.hold_penalty:g})")
        reward_ax.set(xlabel="immediate reward", ylabel="count",
                      title=f"{name} market: reward of each action at those prices")
        reward_ax.legend(fontsize="small")
        for ax in (price_ax, reward_ax):
            ax.grid(alpha=0.3)
    return figure


def _evaluation_figure(studies, n_paths):
    figure, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
    width = 0.8 / len(studies)
    x = np.arange(len(POLICIES))
    for k, (name, study) in enumerate(studies.items()):
        means = [study["scores"][policy].mean for policy in POLICIES]
        stds = [study["scores"][policy].std for policy in POLICIES]
        ax.bar(x + (k - (len(studies) - 1) / 2) * width, means, width, yerr=stds, capsize=3,
               label=f"{name} market")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xticks(x, POLICIES)
    ax.set(ylabel="return per episode (100 steps)",
           title=f"greedy policies on {n_paths} held-out price paths (mean +- sd)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")
    return figure


def _print_summary(summary, path):
    print(f"onenow: {summary['seconds']:.1f} s, wrote {path}")
    seeds = summary["settings"]["seeds"]
    for name, env in summary["environments"].items():
        print(f"  {name} market, output layer over {seeds} seed(s): condition number range, final "
              f"(mean +- sd), final test mse")
        for rate, run in env["stochasticity"].items():
            spread = run["over_seeds"]
            print(f"    s = {rate:<4} B = {run['batch_size']:<5} {spread['condition_number_min']:.2f}-"
                  f"{spread['condition_number_max']:.2f}, {spread['condition_number_final_mean']:.2f} +- "
                  f"{spread['condition_number_final_sd']:.2f}, {spread['test_mse_final_mean']:.2g}")
        fitted = env["fitted_q"]
        print(f"    fitted Q-iteration: greedy action of value iteration in "
              f"{100 * fitted['policy_agreement']:.0f} % of bins, "
              f"max |Q - Q*| {fitted['q_max_abs_error']:.2f}")
        print("    return per episode: " + ", ".join(f"{policy} {score['mean']:.1f}"
                                                    for policy, score in env["evaluation"].items()))
