"""The OneNow market study [Dworakowski 2019, secs. 3.2, 4.3.2, 5.1.2, 5.4], on the experiment engine.

For each price environment (Normal: i.i.d. N(3, 2^2); Sine: the shuffled 3 + 2 sin wave):

1. value iteration solves the discretized market exactly (Q*, the optimum to regress and to beat);
2. a Q-table data set is simulated from --seed (random play, each visited price with Q* of its bin): a
   training set of --train-size rows (by default the original's 1 %: 500 normal, 5000 sine) and a
   held-out test set; every trial uses the same data, so the spread over seeds is the initialization's;
3. a ReLU network (the paper's 1-25-2: the price in, Q of accumulate and distribute out; --outputs 3
   adds hold) regresses the Q values by momentum SGD under training stochasticity 0, 0.25, 0.5, 0.75
   (batches of ceil((1 - s) N) rows, minidl.rl.deep_q), one trial per rate and seed, and under dropout
   at the first seed, recording the singular values of its output layer and the test error every epoch.
   Every rate gets the same budget of --updates updates: a rate making u updates per epoch (1, 1, 2, 4)
   trains for updates / u epochs, so the rates are compared at equal numbers of updates, not epochs;
4. fitted Q-iteration with a target network learns Q from sampled transitions alone;
5. the greedy policies of a network regressing all three Q columns (rate 0, first seed) and of fitted
   Q-iteration play held-out price paths against hold-only, random and the value-iteration optimum
   (steps 4-5 are one trial per environment, at the first seed).

The claims [Dworakowski 2019, secs. 5.4.1-5.4.2]: the output layer's condition number lies in the
paper's range 1.05-1.6 after training and over the epochs (one-sample tests at s = 0, the untrained
layer as null control), and stochasticity
has a negligible impact on conditioning and test error (equivalence tests paired by seed at equal
updates, within --negligible of the s = 0 value).

With --prices googl|eurusd|PATH.csv:COLUMN the command runs the pipeline on a real price series instead
(minidl.experiments.onenow_prices): one trial per seed, judged on a later period it never saw.

Writes into --out, besides the engine's settings.json, trials/, summary.json, report.md and README.md:
- spectrum_<env>.png [Dworakowski 2019, figs. 14-15]: sigma_max, sigma_min and the condition number of
  the output layer per update, and the singular values against the condition number, one line per rate;
- updates_<env>.png: the condition number and the test error against updates, mean over seeds;
- test_error_<env>.png [figs. 16-17]: test error and its epoch-to-epoch gain against conditioning;
- dropout_<env>.png: conditioning per epoch and test error against conditioning under dropout;
- q_curves.png: Q of each action against price: value iteration, the network, fitted Q-iteration;
- markets.png: price and immediate-reward histograms of the environments;
- evaluation.png: return per episode of every policy on the held-out paths (mean +- sd);
- rollout_<env>.png: the network's policy on one held-out path;
- epochs.csv (one row per run, epoch and layer), stochasticity.csv (one row per environment and rate),
  output_layer.csv (the rank of the centred targets and the output layer's singular values),
  fitted_q.csv (loss per update), q_curves.csv and evaluation.csv (one row per environment, policy and
  path).
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from data_tools.onenow import simulate_table  # noqa: E402
from minidl.analysis import plots  # noqa: E402
from minidl.experiments import engine, stats  # noqa: E402
from minidl.experiments.engine import Setting, positive, probability  # noqa: E402
from minidl.experiments import onenow_prices  # noqa: E402
from minidl.rl import real_prices  # noqa: E402
from minidl.rl.deep_q import fitted_q_iteration, regress_q, sample_transitions, \
    stochasticity_batch_size  # noqa: E402
from minidl.rl.discretize import Discretizer  # noqa: E402
from minidl.rl.evaluation import Rollout, baselines, evaluate, held_out_paths, plot_rollout, \
    rollout  # noqa: E402
from minidl.rl.markets import Action, make_market  # noqa: E402
from minidl.rl.mdp import market_mdp  # noqa: E402
from minidl.rl.tabular import value_iteration  # noqa: E402

NAME = "onenow"
HELP = "deep Q on the OneNow markets (or a real price series): output-layer conditioning, policies"
ENVIRONMENTS = ("normal", "sine")
RATES = (0.0, 0.25, 0.5, 0.75)
ACTION_NAMES = tuple(action.name.lower() for action in Action)
ACTION_COLOURS = ("tab:green", "tab:red", "tab:gray")
POLICIES = ("hold", "random", "network", "fitted Q", "optimal")
TRAIN_SIZE = {"normal": 500, "sine": 5000}   # 1 % of the original's 50 000 and 500 000 samples
BINS = 50
PATH_SEED = 1_000_000   # held-out paths use seeds PATH_SEED + 1000 * seed + i, far from every training seed
STATISTICS = ("sigma_max", "sigma_min", "condition_number", "stable_rank")
KAPPA_RANGE = (1.05, 1.6)   # the output layer's condition numbers in [Dworakowski 2019, figs. 14-15]

SETTINGS = (
    Setting("env", "both", "price environments", choices=("normal", "sine", "both")),
    Setting("updates", 300, "SGD updates of each regression, the same for every stochasticity rate (a rate "
            "making u updates per epoch trains updates / u epochs)", check=positive),
    Setting("outputs", 2, "Q columns the swept network regresses: 2 (the paper's accumulate and distribute) "
            "or 3 (hold too)", choices=(2, 3)),
    Setting("hidden", 25, "hidden units of the Q network", check=positive),
    Setting("lr", 0.01, "SGD learning rate", check=positive),
    Setting("momentum", 0.9, "SGD momentum", check=probability),
    Setting("dropout", [0.1, 0.25], "dropout rates run at stochasticity 0 and the first seed, besides the "
            "baseline without dropout", type=float, check=probability, nargs="*"),
    Setting("bins", None, f"price bins of the Q-table (none: {BINS}; a real series: "
            f"{real_prices.SETTINGS['bins']})", type=int, check=positive),
    Setting("gamma", 0.9, "discount factor", check=probability),
    Setting("train_size", None, "training rows (none: a hundredth of the original's, 500 normal, 5000 sine)", type=int,
            check=positive),
    Setting("test_size", 2000, "held-out test rows", check=positive),
    Setting("transitions", 20_000, "transitions sampled for fitted Q-iteration", check=positive),
    Setting("fqi_iterations", 3000, "updates of fitted Q-iteration", check=positive),
    Setting("target_every", 50, "updates between target-network copies", check=positive),
    Setting("paths", 20, "held-out price paths per environment", check=positive),
    Setting("negligible", 0.1, "an effect of stochasticity is negligible when it is within this share of "
            "the s = 0 value (the equivalence margin)", check=positive),
) + onenow_prices.SETTINGS

QUICK = {"updates": 40, "seeds": 2, "train_size": 200, "test_size": 1000, "paths": 5, "transitions": 4000,
         "fqi_iterations": 600, "target_every": 30, **onenow_prices.QUICK}


SIMULATED_ONLY = ("env", "updates", "outputs", "dropout", "train_size", "test_size", "transitions",
                  "fqi_iterations", "target_every", "paths", "negligible")
REAL_ONLY = tuple(setting.name for setting in onenow_prices.SETTINGS if setting.name != "prices")


def check(settings):
    """No flag the run would ignore (the simulated markets' on a real series, and the other way round);
    the update budget a whole number of epochs at every rate (else the budgets differ)."""
    real = settings["prices"] is not None
    ignored = _changed(settings, SIMULATED_ONLY if real else REAL_ONLY)
    if ignored:
        return (f"{', '.join(ignored)} only set{'s' if len(ignored) == 1 else ''} "
                f"{'the simulated markets, which --prices replaces' if real else 'a run on a real series'}; "
                f"drop {'it' if len(ignored) == 1 else 'them'}{'' if real else ' or give --prices'}")
    if real:
        return onenow_prices.check(settings)
    for name in _environments(settings):
        n = settings["train_size"] or TRAIN_SIZE[name]
        for rate in RATES:
            per_epoch = updates_per_epoch(rate, n)
            if settings["updates"] % per_epoch:
                return (f"--updates must be a multiple of {per_epoch}, the updates per epoch at stochasticity "
                        f"{rate:g} on {n} {name} rows (so that every rate makes the same number), got "
                        f"{settings['updates']}")
    return None


def _changed(settings, names):
    """The flags of ``names`` whose value is not the one the run takes without them."""
    taken = {s.name: QUICK.get(s.name, s.default) if settings["quick"] else s.default for s in SETTINGS}
    return [f"--{name.replace('_', '-')}" for name in names if settings[name] != taken[name]]


def updates_per_epoch(rate, n):
    """Updates per epoch at stochasticity ``rate`` on ``n`` rows: floor(N / B), B = ceil((1 - rate) N)."""
    return n // stochasticity_batch_size(rate, n)


def plan(settings):
    """Per environment: every rate with every seed, each dropout rate at the first seed, one policy trial;
    on a real series, one trial per seed."""
    if settings["prices"] is not None:
        return onenow_prices.plan(settings)
    seed = settings["seed"]
    seeds = range(seed, seed + settings["seeds"])
    trials = []
    for name in _environments(settings):
        trials += [({"env": name, "part": "regress", "rate": rate, "dropout": 0.0}, s)
                   for s in seeds for rate in RATES]
        trials += [({"env": name, "part": "regress", "rate": 0.0, "dropout": p}, seed)
                   for p in settings["dropout"]]
        trials.append(({"env": name, "part": "policy"}, seed))
    return trials


def _environments(settings):
    return ENVIRONMENTS if settings["env"] == "both" else (settings["env"],)


# --------------------------------------------------------------------- trials
def trial(settings, condition, seed):
    """One regression (part "regress"), the policies of one environment (part "policy") or the pipeline
    on a real series (part "series"), as records."""
    if condition["part"] == "series":
        return onenow_prices.trial(settings, condition, seed)
    market = _market(settings, condition["env"])
    if condition["part"] == "regress":
        x_train, q_train, x_test, q_test = market["data"]
        columns = slice(0, settings["outputs"])
        data = (x_train, q_train[:, columns], x_test, q_test[:, columns])
        records = _regression_records(_regress(settings, data, condition["rate"], condition["dropout"], seed))
        centred = data[1] - data[1].mean(axis=0)
        records["target_singular_values"] = np.linalg.svd(centred, compute_uv=False).tolist()
        records["updates_per_epoch"] = updates_per_epoch(condition["rate"], len(x_train))
        return records
    return _policy_records(settings, market, seed)


def _market(settings, name):
    """The environment, its exact solution and the data set, all from settings (the same in every trial)."""
    env = make_market(name)
    discretizer = Discretizer.for_env(env, settings["bins"] or BINS)
    mdp = market_mdp(env, discretizer)
    q_star, _ = value_iteration(mdp, settings["gamma"])
    train_size = settings["train_size"] or TRAIN_SIZE[name]
    train_table = simulate_table(env, q_star, discretizer, train_size, settings["seed"], name)
    test_table = simulate_table(env, q_star, discretizer, settings["test_size"], settings["seed"] + 1, name)
    data = (train_table.column("price"), train_table.q_values, test_table.column("price"),
            test_table.q_values)
    return {"name": name, "env": env, "discretizer": discretizer, "mdp": mdp, "q_star": q_star, "data": data}


def _regress(settings, data, rate, dropout, seed):
    """The regression at ``rate`` for the update budget: updates / (updates per epoch) epochs."""
    epochs = settings["updates"] // updates_per_epoch(rate, len(data[0]))
    return regress_q(*data, hidden=(settings["hidden"],), stochasticity=rate, dropout=dropout,
                     lr=settings["lr"], momentum=settings["momentum"], epochs=epochs, seed=seed)


def _regression_records(result):
    """The tracker's records of every layer, the output layer marked, as plain numbers."""
    return {"batch_size": int(result.batch_size), "output_layer": result.layer,
            "history": [{key: _plain(value) for key, value in row.items()} for row in result.tracker.history]}


def _plain(value):
    if isinstance(value, np.ndarray):
        return [float(v) for v in value]
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _policy_records(settings, market, seed):
    """Fitted Q-iteration, the greedy policies on held-out paths, and what the figures need."""
    env, mdp, q_star = market["env"], market["mdp"], market["q_star"]
    policy_net = _regress(settings, market["data"], 0.0, 0.0, seed).network
    transitions = sample_transitions(env, settings["transitions"], seed + 2)
    fitted = fitted_q_iteration(transitions, settings["gamma"], settings["fqi_iterations"],
                                settings["target_every"], hidden=(32,), lr=settings["lr"],
                                momentum=settings["momentum"], batch_size=min(512, len(transitions)),
                                seed=seed)
    seeds = [PATH_SEED + 1000 * seed + i for i in range(settings["paths"])]
    policies = baselines(q_star, market["discretizer"], seed=seed)
    policies.update({"network": policy_net.policy(), "fitted Q": fitted.network.policy()})
    scores = evaluate(env, {key: policies[key] for key in POLICIES}, seeds)
    example = rollout(env, policies["network"], held_out_paths(env.prices, env.episode_length, seeds[:1])[0])
    network_q, fitted_q = policy_net.predict(mdp.bin_means), fitted.network.predict(mdp.bin_means)
    inner = mdp.price_probabilities > 1e-4
    curve = np.linspace(mdp.bin_means[inner].min(), mdp.bin_means[inner].max(), 400)
    prices = market["data"][2]
    optimal = q_star.argmax(axis=1)
    return {
        "bin_means": mdp.bin_means.tolist(), "price_probabilities": mdp.price_probabilities.tolist(),
        "edges": mdp.discretizer.grid.edges.tolist(), "q_star": q_star.tolist(),
        "network_q": network_q.tolist(), "fitted_q": fitted_q.tolist(),
        "curve_prices": curve.tolist(), "network_curve": policy_net.predict(curve).tolist(),
        "fitted_curve": fitted.network.predict(curve).tolist(),
        "test_prices": prices.ravel().tolist(), "reference_price": float(env.reference_price),
        "hold_penalty": float(env.hold_penalty),
        "rewards": {ACTION_NAMES[a]: np.asarray(env.reward(prices, a), dtype=np.float64).ravel().tolist()
                    for a in (Action.ACCUMULATE, Action.DISTRIBUTE)},
        "fitted_losses": [float(loss) for loss in fitted.losses],
        "path_seeds": seeds, "returns": {policy: score.returns.tolist() for policy, score in scores.items()},
        "rollout": {"observations": example.observations.tolist(), "actions": example.actions.tolist(),
                    "rewards": example.rewards.tolist()},
        "summary": {
            "network_policy_agreement": float(np.mean(network_q.argmax(axis=1) == optimal)),
            "network_q_max_abs_error": float(np.abs(network_q - q_star).max()),
            "fitted_q": {"transitions": len(transitions), "target_updates": fitted.target_updates,
                         "final_loss": float(fitted.losses[-50:].mean()),
                         "policy_agreement": float(np.mean(fitted_q.argmax(axis=1) == optimal)),
                         "q_max_abs_error": float(np.abs(fitted_q - q_star).max()),
                         "q_mean_abs_error": float(np.abs(fitted_q - q_star).mean())},
            "evaluation": {policy: {"mean": score.mean, "std": score.std} for policy, score in scores.items()},
            "train_size": len(market["data"][0]), "test_size": len(prices)},
    }


# --------------------------------------------------------------------- finishing
EPOCH_COLUMNS = {
    "env": "price environment", "seed": "initialization seed", "stochasticity": "training stochasticity s",
    "dropout": "dropout rate after the hidden layer", "batch_size": "rows per update, ceil((1 - s) N)",
    "updates_per_epoch": "updates per epoch, floor(N / batch_size)",
    "epoch": "epoch (0: before training)", "updates": "updates made so far, epoch x updates_per_epoch",
    "layer": "path of the Linear layer in the model",
    "output_layer": "True for the output layer", "sigma_max": "largest singular value of the weight",
    "sigma_min": "smallest singular value", "condition_number": "sigma_max / sigma_min",
    "stable_rank": "||W||_F^2 / sigma_max^2", "train_mse": "mean training loss of the epoch (mse)",
    "test_mse": "held-out test mse after the epoch", "test_gain": "previous test mse - test mse",
    "spectrum": "every singular value, descending, space-separated"}
RATE_COLUMNS = {
    "env": "price environment", "stochasticity": "training stochasticity s", "batch_size": "rows per update",
    "epochs": "epochs trained", "updates": "updates made (the same for every rate)",
    "seeds": "seeds run", "kappa_min": "smallest condition number of the output layer, any epoch and seed",
    "kappa_max": "largest condition number, any epoch and seed",
    "kappa_final_mean": "final condition number, mean over seeds",
    "kappa_final_sd": "its standard deviation over seeds (sample, ddof 1)",
    "test_mse_final_mean": "final test mse, mean over seeds"}
OUTPUT_COLUMNS = {
    "env": "price environment", "outputs": "Q columns regressed",
    "target_singular_values": "singular values of the centred training targets Q - mean(Q), space-separated",
    "sigma_min_initial": "sigma_min of the output layer before training (s = 0, mean over seeds)",
    "sigma_min_final": "sigma_min after the last update (s = 0, mean over seeds)",
    "sigma_max_initial": "sigma_max before training (s = 0, mean over seeds)",
    "sigma_max_final": "sigma_max after the last update (s = 0, mean over seeds)"}


def finish(settings, trials):
    """Claims, tables, figures and the summary from the stored trials."""
    if settings["prices"] is not None:
        return onenow_prices.finish(settings, trials)
    seed = settings["seed"]
    studies = {name: _study(settings, engine.select(trials, env=name)) for name in _environments(settings)}
    tables = [
        engine.Table("stochasticity.csv", "Output-layer conditioning and test error per stochasticity rate, "
                     "at equal numbers of updates", [row for study in studies.values() for row in study["rates"]],
                     RATE_COLUMNS, in_report=True),
        engine.Table("output_layer.csv", "The centred Q* targets and the output layer's singular values",
                     [study["output_row"] for study in studies.values()], OUTPUT_COLUMNS, in_report=True),
        engine.Table("epochs.csv", "One row per run, epoch and Linear layer.",
                     [row for study in studies.values() for row in study["epochs"]], EPOCH_COLUMNS),
        engine.Table("fitted_q.csv", "One row per update of fitted Q-iteration.",
                     [row for study in studies.values() for row in study["fitted_q_rows"]],
                     {"env": "price environment", "update": "update number", "loss": "mse of the update"}),
        engine.Table("q_curves.csv", "One row per price bin: Q of each action from each source.",
                     [row for study in studies.values() for row in study["q_rows"]], _q_columns()),
        engine.Table("evaluation.csv", "One row per environment, policy and held-out path.",
                     [row for study in studies.values() for row in study["evaluation_rows"]],
                     {"env": "price environment", "policy": "greedy policy played",
                      "path_seed": "seed of the held-out price path", "return": "return of the episode"}),
    ]
    shows = engine.one_seed(seed)
    figures = []
    for name, study in studies.items():
        figures.append(engine.Figure(f"spectrum_{name}.png", f"{name} market: output-layer singular values "
                                     "and conditioning per stochasticity rate", _spectrum_figure(name, study),
                                     shows))
        figures.append(engine.Figure(f"updates_{name}.png", f"{name} market: conditioning and test error "
                                     "against updates", _updates_figure(name, study),
                                     engine.over_seeds(settings["seeds"])))
        figures.append(engine.Figure(f"test_error_{name}.png", f"{name} market: test error against "
                                     "conditioning", _test_error_figure(name, study), shows))
        if settings["dropout"]:
            figures.append(engine.Figure(f"dropout_{name}.png", f"{name} market: conditioning under dropout",
                                         _dropout_figure(name, study), shows))
        figures.append(engine.Figure(f"rollout_{name}.png", f"{name} market: the network's greedy policy on "
                                     "a held-out path", plot_rollout(study["rollout"], title=f"{name} market: "
                                     "the network's greedy policy on a held-out path"), shows))
    figures += [engine.Figure("q_curves.png", "Q of each action against price", _q_curves_figure(studies),
                              shows),
                engine.Figure("markets.png", "Prices and immediate rewards of the markets",
                              _markets_figure(studies), shows),
                engine.Figure("evaluation.png", "Return per episode of each greedy policy",
                              _evaluation_figure(studies, settings["paths"]), shows)]
    return engine.Results(
        title="OneNow: output-layer conditioning under training stochasticity",
        paper="[Dworakowski 2019, secs. 3.2, 4.3.2, 5.1.2, 5.4; figs. 14-17]",
        claims=[claim for name, study in studies.items() for claim in _claims(settings, name, study)],
        tables=tables, figures=figures,
        summary={"environments": {name: study["summary"] for name, study in studies.items()}},
        notes=_notes(settings, studies))


# --------------------------------------------------------------------- claims
def _claims(settings, name, study):
    """The paper's kappa range, at the end and over the epochs (the untrained layer as null control),
    and the negligible impact of stochasticity on the final condition number and test error, at equal
    updates."""
    smoke = settings["quick"]
    baseline = study["finals"][0.0]
    low, high = KAPPA_RANGE
    claims = []
    for key, bound, direction, word, what in (("kappa", low, "greater", "above", "final condition number"),
                                              ("kappa", high, "less", "below", "final condition number"),
                                              ("kappa_max", high, "less", "below",
                                               "largest condition number over the epochs")):
        control = stats.one_sample(f"the untrained output layer (epoch 0) is {word} {bound:g}",
                                   baseline["kappa_initial"], direction, bound,
                                   effect=f"kappa(epoch 0) - {bound:g}", smoke=smoke)
        claims.append(stats.one_sample(
            f"{name} market: the output layer's {what} lies {word} {bound:g}, in the paper's range "
            f"{low:g}-{high:g} [Dworakowski 2019, figs. 14-15].",
            baseline[key], direction, bound, effect=f"{what.split()[0]} kappa(s = 0) - {bound:g}", smoke=smoke,
            control=control))
    for key, label in (("kappa", "final condition number"), ("test_mse", "final test mse")):
        reference = np.mean(baseline[key])
        for rate in RATES[1:]:
            claims.append(stats.equivalence(
                f"{name} market: training stochasticity {rate:g} has a negligible impact on the {label} at "
                f"{settings['updates']} updates [Dworakowski 2019, sec. 5.4.2].", study["finals"][rate][key],
                baseline[key], settings["negligible"] * abs(reference),
                effect=f"{key}(s = {rate:g}) - {key}(s = 0)", smoke=smoke))
    return claims


def _notes(settings, studies):
    sizes = ", ".join(f"{n}: {study['summary']['train_size']}" for n, study in studies.items())
    ranks = "; ".join(f"{name} market, {settings['outputs']} outputs: {_sigma_story(study['output_row'])}"
                      for name, study in studies.items())
    return [
        "The paper's data were never published: the Q-table data set is simulated here, each visited price "
        "with the exact Q* of its bin from value iteration on the discretized market, where the paper "
        f"regressed the Q-table its agent learned. Training sets of {sizes} rows (by default the original's "
        "1 %).",
        f"Stochasticity rates are compared at equal numbers of updates ({settings['updates']} each: rate s "
        "trains for updates / floor(N / ceil((1 - s) N)) epochs), where the paper compared them per epoch, "
        "which gives rates 0.5 and 0.75 two and four times the updates of rate 0 and so mixes the noise "
        "of an update with the number of updates.",
        f"The swept network is 1-{settings['hidden']}-{settings['outputs']}"
        + (" (the paper's shape: accumulate, distribute)" if settings["outputs"] == 2 and settings["hidden"] == 25
           else ", not the paper's 1-25-2 (accumulate, distribute)")
        + "; the policy study regresses all three Q columns so that its greedy policy can hold.",
        "The centred Q* targets have rank 1 (output_layer.csv): the rewards of accumulate and distribute are "
        "m - p and p - m (minus a cost) and the discounted future is the same for every action at i.i.d. "
        "prices, so every centred Q column is a multiple of p - m (hold's is zero); the uncentred targets add "
        "one more direction, their mean. An output layer of k outputs needs at most these two directions: "
        "with hold as a third output the third singular value is never needed, so sigma_min stays near its "
        "initial value while sigma_max grows and the condition number follows sigma_max alone; with the "
        "paper's two outputs both directions are learned. Here (s = 0, mean over seeds): " + ranks + ".",
        f"The paper's range {KAPPA_RANGE[0]:g}-{KAPPA_RANGE[1]:g} of the condition number is read from its "
        "figures 14-15; the paper states no number. It gives no threshold for a negligible impact either: "
        f"here an effect is negligible within {settings['negligible']:.0%} of the s = 0 value (an "
        "equivalence margin of this run's choosing), and an interval holding zero reads \"no effect "
        "detected\", not \"no effect\".",
        "The test error is scored on a held-out simulated set in eval mode without gradients after every "
        "epoch; fitted Q-iteration and the policy evaluation on held-out paths are additions, not in the "
        "paper.",
    ]


def _sigma_story(row):
    """How sigma_min and sigma_max of the output layer moved, in words, from output_layer.csv's row."""
    def moved(key):
        start, end = row[f"{key}_initial"], row[f"{key}_final"]
        ratio = end / start
        verb = "stays near its initial value" if 0.7 <= ratio <= 1.4 else \
            f"{'grows' if ratio > 1 else 'falls'} {ratio:.2g}-fold"
        return f"{key} {verb} ({start:.3g} -> {end:.3g})"
    return f"{moved('sigma_min')}, {moved('sigma_max')}"


def _q_columns():
    columns = {"env": "price environment", "bin": "price bin", "price": "mean price of the bin",
               "probability": "probability of the bin"}
    for source in ("value_iteration", "network", "fitted_q"):
        columns.update({f"{source}_{action}": f"Q of {action} from {source.replace('_', ' ')}"
                        for action in ACTION_NAMES})
    return columns


def _study(settings, trials):
    """What the figures, tables and claims of one environment need, from its stored trials."""
    name = trials[0].condition["env"]
    seed = settings["seed"]
    sweeps = {}
    for t in engine.select(trials, part="regress", dropout=0.0):
        sweeps.setdefault(t.seed, {})[t.condition["rate"]] = t.records
    dropouts = {t.condition["dropout"]: t.records for t in engine.select(trials, part="regress")
                if t.condition["dropout"] > 0}
    policy = engine.select(trials, part="policy")[0].records
    sweep = sweeps[seed]
    runs = {f"s = {rate:g} (B = {run['batch_size']})": _output_records(run) for rate, run in sweep.items()}
    update_runs = {label: [dict(record, epoch=record["epoch"] * sweep[rate]["updates_per_epoch"])
                           for record in records] for (label, records), rate in zip(runs.items(), sweep)}
    dropout_runs = {"no dropout": _output_records(sweep[0.0])}
    dropout_runs.update({f"dropout {p:g}": _output_records(run) for p, run in dropouts.items()})
    summary = dict(policy["summary"], stochasticity={
        f"{rate:g}": dict(_run_summary(run), over_seeds=_spread([s[rate] for s in sweeps.values()]))
        for rate, run in sweep.items()}, dropout={f"{p:g}": _run_summary(run) for p, run in dropouts.items()})
    finals = {rate: {"kappa_max": [_output_series(s[rate], "condition_number").max() for s in sweeps.values()],
                     **{key: [_output_series(s[rate], series)[index] for s in sweeps.values()]
                     for key, series, index in (("kappa", "condition_number", -1), ("test_mse", "test_mse", -1),
                                                ("kappa_initial", "condition_number", 0),
                                                ("sigma_min_final", "sigma_min", -1),
                                                ("sigma_max_final", "sigma_max", -1),
                                                ("sigma_min_initial", "sigma_min", 0),
                                                ("sigma_max_initial", "sigma_max", 0))}}
              for rate in sweep}
    q_star, network_q, fitted_q = (np.array(policy[key]) for key in ("q_star", "network_q", "fitted_q"))
    base = finals[0.0]
    return {
        "runs": runs, "update_runs": update_runs, "dropout_runs": dropout_runs, "policy": policy, "q_star": q_star, "finals": finals,
        "mean_runs": {f"s = {rate:g}": _mean_over_seeds([s[rate] for s in sweeps.values()]) for rate in sweep},
        "rollout": Rollout(*(np.array(policy["rollout"][key]) for key in ("observations", "actions", "rewards"))),
        "epochs": _epoch_rows(name, sweeps, dropouts, seed),
        "rates": [dict(env=name, stochasticity=float(rate), batch_size=run["batch_size"],
                       epochs=_output_records(run)[-1]["epoch"], updates=_updates(run)[-1],
                       **_rate_row(summary["stochasticity"][f"{rate:g}"]["over_seeds"]))
                  for rate, run in sweep.items()],
        "output_row": {"env": name, "outputs": settings["outputs"],
                       "target_singular_values": " ".join(f"{v:.3g}" for v in sweep[0.0]["target_singular_values"]),
                       **{key: float(np.mean(base[key])) for key in ("sigma_min_initial", "sigma_min_final",
                                                                      "sigma_max_initial", "sigma_max_final")}},
        "fitted_q_rows": [{"env": name, "update": i + 1, "loss": loss}
                          for i, loss in enumerate(policy["fitted_losses"])],
        "q_rows": _q_rows(name, policy, q_star, network_q, fitted_q),
        "evaluation_rows": [{"env": name, "policy": p, "path_seed": path_seed, "return": value}
                            for p, returns in policy["returns"].items()
                            for path_seed, value in zip(policy["path_seeds"], returns)],
        "summary": summary,
    }


def _updates(run):
    """Updates made by each recorded epoch of ``run`` (output layer), from epoch 0."""
    return [record["epoch"] * run["updates_per_epoch"] for record in _output_records(run)]


def _mean_over_seeds(runs):
    """(updates, kappa mean, kappa sd, test mse mean) per recorded epoch over runs of one rate."""
    kappa = np.array([_output_series(run, "condition_number") for run in runs])
    mse = np.array([_output_series(run, "test_mse") for run in runs])
    return np.array(_updates(runs[0])), kappa.mean(axis=0), kappa.std(axis=0), mse.mean(axis=0)


def _rate_row(spread):
    return {"seeds": spread["seeds"], "kappa_min": spread["condition_number_min"],
            "kappa_max": spread["condition_number_max"],
            "kappa_final_mean": spread["condition_number_final_mean"],
            "kappa_final_sd": spread["condition_number_final_sd"],
            "test_mse_final_mean": spread["test_mse_final_mean"]}


def _epoch_rows(name, sweeps, dropouts, seed):
    """One row per run, epoch and tracked layer: the spectrum statistics and the errors."""
    rows = []
    runs = [(init_seed, rate, 0.0, run) for init_seed, sweep in sweeps.items() for rate, run in sweep.items()]
    runs += [(seed, 0.0, p, run) for p, run in dropouts.items()]
    for init_seed, rate, p, run in runs:
        for record in run["history"]:
            row = {"env": name, "seed": init_seed, "stochasticity": rate, "dropout": p,
                   "batch_size": run["batch_size"], "updates_per_epoch": run["updates_per_epoch"],
                   "epoch": record["epoch"], "updates": record["epoch"] * run["updates_per_epoch"],
                   "layer": record["layer"], "output_layer": record["layer"] == run["output_layer"]}
            row.update({key: record[key] for key in STATISTICS})
            row.update({"train_mse": record.get("train_mse"), "test_mse": record["test_mse"],
                        "test_gain": record.get("test_gain"),
                        "spectrum": " ".join(f"{value:.9g}" for value in record["spectrum"])})
            rows.append(row)
    return rows


def _q_rows(name, policy, q_star, network_q, fitted_q):
    rows = []
    for b, price in enumerate(policy["bin_means"]):
        row = {"env": name, "bin": b, "price": price, "probability": policy["price_probabilities"][b]}
        for source, table in (("value_iteration", q_star), ("network", network_q), ("fitted_q", fitted_q)):
            row.update({f"{source}_{action}": float(table[b, a]) for a, action in enumerate(ACTION_NAMES)})
        rows.append(row)
    return rows


def _output_records(run):
    """The records of the output layer, under the layer name "output" (its path in the model depends on
    whether there is dropout)."""
    return [dict(record, layer="output") for record in run["history"] if record["layer"] == run["output_layer"]]


def _output_series(run, key):
    return np.array([record[key] for record in run["history"] if record["layer"] == run["output_layer"]])


def _run_summary(run):
    kappa = _output_series(run, "condition_number")
    history = _output_records(run)
    return {"batch_size": run["batch_size"], "updates": _updates(run)[-1],
            "condition_number": {"initial": float(kappa[0]), "min": float(kappa.min()),
                                 "max": float(kappa.max()), "final": float(kappa[-1])},
            "sigma_max_final": float(_output_series(run, "sigma_max")[-1]),
            "sigma_min_final": float(_output_series(run, "sigma_min")[-1]),
            "test_mse_initial": history[0]["test_mse"], "test_mse_final": history[-1]["test_mse"],
            "train_mse_final": history[-1].get("train_mse")}


def _spread(runs):
    kappas = [_output_series(run, "condition_number") for run in runs]
    finals = np.array([kappa[-1] for kappa in kappas])
    errors = np.array([_output_records(run)[-1]["test_mse"] for run in runs])
    return {"seeds": len(runs), "condition_number_min": float(min(k.min() for k in kappas)),
            "condition_number_max": float(max(k.max() for k in kappas)),
            "condition_number_final_mean": float(finals.mean()),
            "condition_number_final_sd": float(finals.std(ddof=1)) if len(runs) > 1 else math.nan,
            "test_mse_final_mean": float(errors.mean()),
            "test_mse_final_sd": float(errors.std(ddof=1)) if len(runs) > 1 else math.nan}


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
    """[Dworakowski 2019, figs. 14-15]: the output layer's singular values and conditioning, against updates."""
    figure, axes = plt.subplots(1, 3, figsize=(17, 4.6), layout="constrained")
    plots.singular_values_vs_epochs(study["update_runs"], axes=axes[:2])
    plots.singular_values_vs_conditioning(study["runs"], ax=axes[2])
    for ax in axes[:2]:
        ax.set_xlabel("update")
    for ax in axes:
        _widen_earlier_runs(ax, list(study["runs"]))
        _plain_numbers(ax)
    figure.suptitle(f"{name} market: output layer of the Q network under training stochasticity s "
                    f"(batch B), the same number of updates at every rate")
    return figure


def _updates_figure(name, study):
    """The condition number (mean +- sd) and the test error (mean) against updates, one line per rate."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    for label, (updates, kappa, sd, mse) in study["mean_runs"].items():
        line, = left.plot(updates, kappa, label=label)
        left.fill_between(updates, kappa - sd, kappa + sd, color=line.get_color(), alpha=0.15)
        right.plot(updates, mse, color=line.get_color(), label=label)
    left.set(xlabel="update", ylabel="condition number", title="output layer conditioning (mean +- sd)")
    right.set(xlabel="update", ylabel="test mse (log)", yscale="log", title="held-out test error (mean)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(f"{name} market: stochasticity rates compared at equal numbers of updates")
    return figure


def _test_error_figure(name, study):
    """[Dworakowski 2019, figs. 16-17]: test error and its epoch-to-epoch gain against conditioning."""
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
    layer's condition number, one point per epoch ([Dworakowski 2019, figs. 16-17], right)."""
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
        policy = study["policy"]
        bin_means = np.array(policy["bin_means"])
        inner = np.array(policy["price_probabilities"]) > 1e-4
        prices = np.array(policy["curve_prices"])
        network, fitted = np.array(policy["network_curve"]), np.array(policy["fitted_curve"])
        for a, (action, colour) in enumerate(zip(ACTION_NAMES, ACTION_COLOURS)):
            ax.plot(bin_means[inner], study["q_star"][inner, a], "o", color=colour, markersize=3.5,
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
        policy = study["policy"]
        prices = np.array(policy["test_prices"])
        edges, probabilities = np.array(policy["edges"]), np.array(policy["price_probabilities"])
        price_ax.hist(prices, bins=60, density=True, color="tab:blue", alpha=0.6,
                      label=f"{len(prices)} simulated (test set)")
        price_ax.stairs(probabilities / np.diff(edges), edges, color="k",
                        label="exact: bin probability / width (end bins hold the tails)")
        price_ax.axvline(policy["reference_price"], color="k", linestyle="--", linewidth=1,
                         label=f"reference price m = {policy['reference_price']:.2f}")
        price_ax.set(xlabel="price", ylabel="density", title=f"{name} market: prices")
        price_ax.set_ylim(top=1.4 * price_ax.get_ylim()[1])          # room for the legend above the data
        price_ax.legend(fontsize="small", loc="upper center")
        for action in (Action.ACCUMULATE, Action.DISTRIBUTE):
            reward_ax.hist(policy["rewards"][ACTION_NAMES[action]], bins=60, histtype="stepfilled", alpha=0.45,
                           color=ACTION_COLOURS[action], label=ACTION_NAMES[action])
        reward_ax.axvline(-policy["hold_penalty"], color=ACTION_COLOURS[Action.HOLD], linestyle="--",
                          label=f"hold (always {-policy['hold_penalty']:g})")
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
        evaluation = study["summary"]["evaluation"]
        means = [evaluation[policy]["mean"] for policy in POLICIES]
        stds = [evaluation[policy]["std"] for policy in POLICIES]
        ax.bar(x + (k - (len(studies) - 1) / 2) * width, means, width, yerr=stds, capsize=3,
               label=f"{name} market")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xticks(x, POLICIES)
    ax.set(ylabel="return per episode (100 steps)",
           title=f"greedy policies on {n_paths} held-out price paths (mean +- sd)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")
    return figure


EXPERIMENT = engine.Experiment(name=NAME, help=HELP, settings=SETTINGS, quick=QUICK, trial=trial, finish=finish,
                               plan=plan, check=check, seeds=10)
