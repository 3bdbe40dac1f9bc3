"""`minidl onenow --prices SERIES`: the OneNow pipeline on a real price series, on the experiment engine.

The science is minidl.rl.real_prices (its :func:`~minidl.rl.real_prices.trial` is one seed's whole
pipeline: Q-learning on the fit period, the window W of the trailing reference chosen on the validation
period, the network regressing the Q-table with its output layer tracked [Dworakowski 2019, secs. 4.3.2,
5.1.2, 5.4], and every policy played on every period against hold-only, random and the hindsight bound).
This module gives it the command's settings, one trial per seed, and builds the report from the stored
trials: the claims that the learned policies beat hold-only and random on the later test period (paired
by seed), how the periods differ, and why the paper's assumptions do not hold on a real series.

SERIES is ``googl`` or ``eurusd`` (gym-anytrading's bundled daily GOOGL and hourly EUR/USD closes,
``pip install 'minidl[markets]'``) or ``PATH.csv:COLUMN``. Besides the engine's files it writes
periods.csv, scores.csv, choices.csv, conditioning.csv (in the report), evaluation.csv and epochs.csv, and
the figures conditioning.png and test_period.png.
"""
import hashlib
import math

import numpy as np
from matplotlib.figure import Figure

from minidl.analysis import plots
from minidl.experiments import engine, stats
from minidl.experiments.engine import Setting, nonnegative, positive
from minidl.rl import real_prices
from minidl.rl.series import PriceSeries, market_signals


def _fraction(value):
    """Check: a number in (0, 1)."""
    return None if 0 < value < 1 else "must be in (0, 1)"


SETTINGS = (
    Setting("prices", None, "a real price series instead of the simulated markets: googl, eurusd (bundled "
            "with gym-anytrading: pip install 'minidl[markets]') or PATH.csv:COLUMN (none: the simulated "
            "markets)", type=str),
    Setting("reference", "trailing", "real series: the reward's reference price, the trailing mean of the "
            "last W prices or the paper's constant m (misleading on a trend)", choices=("trailing", "constant")),
    Setting("windows", [10, 20, 50], "real series: candidate windows W of the trailing reference, chosen on "
            "the validation period", type=int, check=positive, nargs="+"),
    Setting("test_fraction", 0.25, "real series: share of the series, at its end, held out as the test "
            "period", check=_fraction),
    Setting("gap", 0, "real series: prices between the training part and the test period, in no period",
            check=nonnegative),
    Setting("validation_fraction", 0.2, "real series: share of the training part, at its end, on which W "
            "is chosen", check=_fraction),
    Setting("cost", 0.5, "real series: cost of a trade, in units of S (the fit period's standard deviation of "
            "the price's deviation from its reference)", check=nonnegative),
    Setting("hold_penalty", 0.05, "real series: penalty of a step without trading, in units of S",
            check=nonnegative),
    Setting("episodes", 500, "real series: Q-learning episodes on the fit period", check=positive),
    Setting("episode_length", 50, "real series: steps per Q-learning episode", check=positive),
    Setting("epochs", 200, "real series: epochs of the network regressing the Q-table, at every rate",
            check=positive),
)
QUICK = {"episodes": real_prices.QUICK["episodes"], "epochs": real_prices.QUICK["epochs"]}
BASELINES = ("hold", "random")


def config(settings):
    """The settings of minidl.rl.real_prices for the command's ``settings``."""
    quick = settings["quick"]
    rates = real_prices.QUICK["stochasticity_rates"] if quick else real_prices.SETTINGS["stochasticity_rates"]
    keys = ("reference", "windows", "test_fraction", "gap", "validation_fraction", "cost", "hold_penalty",
            "gamma", "episodes", "episode_length", "hidden", "lr", "momentum", "epochs", "seeds")
    return real_prices.settings(settings["prices"], quick, **{key: settings[key] for key in keys},
                                bins=settings["bins"] or real_prices.SETTINGS["bins"],
                                stochasticity_rates=list(rates))


def check(settings):
    """The series must load, split into periods and give the market of every candidate window on its fit
    period (signals, and episodes that fit): the problem in one line, or None."""
    windows = settings["windows"] if settings["reference"] == "trailing" else [None]
    try:
        series = PriceSeries.load(settings["prices"])
        periods = series.split(settings["test_fraction"], settings["gap"], settings["validation_fraction"])
        for window in windows:
            signals = market_signals(series.prices, periods.fit.stop, settings["reference"], window)
            real_prices.fit_market(signals, periods, settings["episode_length"], settings["cost"],
                                   settings["hold_penalty"])
    except ImportError:
        return (f"--prices {settings['prices']} is bundled with gym-anytrading: pip install "
                f"'minidl[markets]'")
    except (OSError, ValueError) as error:
        return f"--prices {settings['prices']}: {error}"
    return None


def plan(settings):
    """One trial per seed: the whole pipeline on the series. The condition holds the series' digest, so a
    CSV file changed since its trials were stored runs anew instead of resuming on results of other data."""
    seeds = range(settings["seed"], settings["seed"] + settings["seeds"])
    condition = {"part": "series", "prices": settings["prices"], "data": digest(settings["prices"])}
    return [(condition, seed) for seed in seeds]


def digest(source):
    """The first 12 hex digits of the SHA-256 of the series' prices (float64 bytes) and time labels."""
    series = PriceSeries.load(source)
    content = hashlib.sha256(series.prices.tobytes())
    content.update("\n".join(series.times or []).encode())
    return content.hexdigest()[:12]


def trial(settings, condition, seed):
    """One seed's pipeline on the series (:func:`minidl.rl.real_prices.trial`), as records."""
    return real_prices.trial(config(settings), seed)


# --------------------------------------------------------------------- finishing
PERIOD_COLUMNS = {
    "period": "fit (learning), validation (choices) or test (played once, at the end)",
    "first_time": "first time label of the period", "last_time": "last time label",
    "steps": "prices in the period", "mean": "mean price",
    "volatility": "standard deviation of the log return per step", "trend": "mean log return per step",
    "growth": "last price / first price", "above_fit_mean": "share of prices above the fit period's mean m",
    "observation_autocorrelation": "lag-1 autocorrelation of the observation (0 for i.i.d. prices)",
    "constant_m_bound_per_step": "hindsight bound per step under the paper's constant m"}
SCORE_COLUMNS = {
    "policy": "policy played (hindsight: the best action knowing each step's reward, a bound)",
    "return_per_step": "test period: return per step, mean over seeds (units of S)",
    "return_low": "its Student-t 95 % interval over seeds, low end", "return_high": "high end",
    "fraction_of_bound": "test period: return over the hindsight bound's, mean over seeds",
    "fraction_low": "its 95 % interval, low end", "fraction_high": "high end",
    "trades": "share of test steps trading, mean over seeds"}
CHOICE_COLUMNS = {"window": "candidate window W (none: the constant m)",
                  "validation_return_per_step": "validation return per step of its Q-learning policy, mean "
                                                "over seeds",
                  "chosen_by": "seeds that chose it"}
CONDITIONING_COLUMNS = {
    "stochasticity": "training stochasticity s", "batch_size": "rows per update", "epochs": "epochs trained",
    "kappa_initial": "condition number of the output layer before training, mean over seeds",
    "kappa_final": "after the last epoch, mean over seeds",
    "validation_mse": "final mse on the validation period, mean over seeds"}

def _figures(config, records):
    """{file name: matplotlib Figure} of the trials ``records`` (results of :func:`real_prices.trial`).

    - conditioning.png: sigma_max, sigma_min and the condition number of the output layer per epoch,
      one line per stochasticity rate, for the first seed [Dworakowski 2019, figures 14-15];
    - test_period.png: return per step of every policy on every period, mean over the seeds with its
      Student-t 95 % interval.
    """
    first = records[0]["epochs"][0]["seed"]
    runs = {f"s = {rate:g}": [row for row in records[0]["epochs"] if row["stochasticity"] == rate]
            for rate in config["stochasticity_rates"]}
    conditioning = plots.singular_values_vs_epochs(
        runs, title=f"{config['prices']}: output layer of the Q network, seed {first}")
    scores = Figure(figsize=(8, 4.2), layout="constrained")
    ax = scores.subplots()
    rows = [row for record in records for row in record["evaluation"]]
    width = 0.8 / len(real_prices.PERIODS)
    for k, period in enumerate(real_prices.PERIODS):
        bars = [stats.interval([row["return_per_step"] for row in rows
                                if row["policy"] == policy and row["period"] == period])
                for policy in real_prices.POLICIES]
        ax.bar(np.arange(len(real_prices.POLICIES)) + (k - 1) * width, [mean for _, mean, _, _ in bars], width,
               yerr=[0.0 if math.isnan(low) else mean - low for _, mean, low, _ in bars], capsize=3, label=period)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xticks(np.arange(len(real_prices.POLICIES)), real_prices.POLICIES)
    ax.set(ylabel="return per step (units of S)", title=f"{config['prices']}, {config['reference']} reference: "
                                                        f"mean over {len(records)} seeds, 95 % t interval")
    ax.legend(fontsize="small")
    return {"conditioning.png": conditioning, "test_period.png": scores}


def finish(settings, trials):
    """The claims, tables, figures and notes of a run on a real series, from its stored trials."""
    cfg = config(settings)
    records = [t.records for t in trials]
    rows = {key: [row for record in records for row in record[key]] for key in records[0]}
    periods = {row["period"]: row for row in records[0]["periods"]}
    scores = _scores(rows["evaluation"])
    tables = [
        engine.Table("periods.csv", "The periods, split by time", [
            {key: periods[name][key] for key in PERIOD_COLUMNS} for name in real_prices.PERIODS],
            PERIOD_COLUMNS, in_report=True),
        engine.Table("scores.csv", "The policies on the test period", scores, SCORE_COLUMNS, in_report=True),
        engine.Table("choices.csv", "The window W, chosen on the validation period", _choices(rows["choices"]),
                     CHOICE_COLUMNS, in_report=True),
        engine.Table("conditioning.csv", "The output layer of the network regressing the Q-table",
                     _conditioning(rows["epochs"]), CONDITIONING_COLUMNS, in_report=True),
        engine.Table("evaluation.csv", "One row per seed, policy and period.", rows["evaluation"],
                     {"seed": "seed", "policy": "policy played", "period": "period played",
                      "steps": "steps acted on", "return_per_step": "return per step (units of S)",
                      "fraction_of_bound": "return over the hindsight bound's", "trades": "share of steps trading"}),
        engine.Table("epochs.csv", "One row per seed, stochasticity rate and epoch of the output layer.",
                     rows["epochs"], {
                         "seed": "seed", "stochasticity": "training stochasticity s", "batch_size": "rows per update",
                         "layer": "the output layer", "epoch": "epoch (0: before training)",
                         "sigma_max": "largest singular value", "sigma_min": "smallest singular value",
                         "condition_number": "sigma_max / sigma_min", "train_mse": "mean training mse of the epoch",
                         "validation_mse": "mse on the validation period after the epoch"}),
    ]
    figures = _figures(cfg, records)
    figures["conditioning.png"].suptitle(f"{settings['prices']}: output layer of the Q network per epoch, "
                                         "every rate the same epochs")
    figures["test_period.png"].axes[0].set_title("")      # the title below says it, and the engine adds the seeds
    figures["test_period.png"].suptitle(f"{settings['prices']}, {settings['reference']} reference: return per "
                                        "step of every policy on every period, 95 % t interval")
    shows = {"conditioning.png": engine.one_seed(settings["seed"]),
             "test_period.png": engine.over_seeds(len(records))}
    captions = {"conditioning.png": "The output layer of the Q network per epoch, one line per stochasticity rate",
                "test_period.png": "Return per step of every policy on every period (95 % t interval)"}
    return engine.Results(
        title=f"OneNow on real prices: {settings['prices']}",
        paper="[Dworakowski 2019, secs. 4.3.2, 5.1.2, 5.4], applied to a real series",
        claims=_claims(settings, rows["evaluation"]), tables=tables,
        figures=[engine.Figure(name, captions[name], figure, shows[name]) for name, figure in figures.items()],
        summary={"series": settings["prices"], "periods": periods,
                 "test": {row["policy"]: row for row in scores}},
        notes=_notes(settings, periods))


def _test_returns(evaluation, policy):
    by_seed = {row["seed"]: row["return_per_step"] for row in evaluation
               if row["policy"] == policy and row["period"] == "test"}
    return [by_seed[seed] for seed in sorted(by_seed)]


def _claims(settings, evaluation):
    """Does each learned policy beat each baseline on the test period? Paired by seed."""
    return [stats.paired(
        f"On the later test period of {settings['prices']}, the {learned.replace('_', '-')} policy earns more "
        f"per step than {baseline} (the question of this run; the paper has no real series).",
        _test_returns(evaluation, learned), _test_returns(evaluation, baseline), "greater",
        effect=f"return per step, {learned} - {baseline}", smoke=settings["quick"])
        for learned in real_prices.LEARNED for baseline in BASELINES]


def _scores(evaluation):
    rows = []
    for policy in real_prices.POLICIES:
        test = [row for row in evaluation if row["policy"] == policy and row["period"] == "test"]
        row = {"policy": policy, "trades": float(np.mean([r["trades"] for r in test]))}
        for key, name in (("return_per_step", "return"), ("fraction_of_bound", "fraction")):
            _, mean, low, high = stats.interval([r[key] for r in test])
            row.update({key: mean, f"{name}_low": low, f"{name}_high": high})
        rows.append(row)
    return rows


def _choices(choices):
    windows = dict.fromkeys(row["window"] for row in choices)
    return [{"window": window,
             "validation_return_per_step": float(np.mean([r["validation_return_per_step"] for r in choices
                                                          if r["window"] == window])),
             "chosen_by": sum(r["chosen"] for r in choices if r["window"] == window)} for window in windows]


def _conditioning(epochs):
    rows = []
    for rate in dict.fromkeys(row["stochasticity"] for row in epochs):
        runs = [row for row in epochs if row["stochasticity"] == rate]
        last = max(row["epoch"] for row in runs)
        rows.append({"stochasticity": rate, "batch_size": runs[0]["batch_size"], "epochs": last,
                     "kappa_initial": float(np.mean([r["condition_number"] for r in runs if r["epoch"] == 0])),
                     "kappa_final": float(np.mean([r["condition_number"] for r in runs if r["epoch"] == last])),
                     "validation_mse": float(np.mean([r["validation_mse"] for r in runs if r["epoch"] == last]))})
    return rows


def _notes(settings, periods):
    fit, test = periods["fit"], periods["test"]
    autocorrelation = ", ".join(f"{name} {periods[name]['observation_autocorrelation']:.3f}"
                                for name in real_prices.PERIODS)
    return [
        "The paper's markets draw i.i.d. prices, so the price bin is a Markov state and value iteration on "
        "the known MDP gives the optimum. A real series is one path in time: consecutive observations are "
        f"strongly correlated (lag-1 autocorrelation {autocorrelation}; 0 for i.i.d. draws) and the reward "
        "depends on the volatility, which the agent does not see. No MDP describes this market exactly, so a "
        "tabular \"optimum\" would mean nothing; the yardstick is the hindsight bound, the best action at each "
        "step knowing its reward, an upper bound and not a policy.",
        f"The series is split by time. The test period's mean price is {test['mean'] / fit['mean']:.2f}x the "
        f"fit period's, its volatility {test['volatility'] / fit['volatility']:.2f}x, its trend "
        f"{test['trend']:.3g} per step against {fit['trend']:.3g}; {test['above_fit_mean']:.0%} of its prices "
        "lie above the fit period's mean m. Nothing from the test period reaches training (reward scale, m, "
        "bins, input scaling come from the fit period); W is chosen on the validation period, and the test "
        "period is played once.",
        f"Reference price: {settings['reference']}. The paper's constant m, the mean of the training prices, is "
        "stale on a trending series: \"distribute\" then pays at almost every later step whatever the timing, "
        "and the hindsight bound follows the drift from m (under a constant m: "
        + ", ".join(f"{periods[name]['constant_m_bound_per_step']:.3f} per step on the {name} period"
                    for name in real_prices.PERIODS)
        + "). The trailing reference, the mean of the last W prices known at time t, keeps the reward about "
        "timing.",
        "The reward is the paper's: the deviation of the price from its reference at a trade, not the profit of "
        "a position, so beating hold-only means trading when the price is far from its reference, not making "
        "money. Cost and waiting penalty are in units of S, the fit period's standard deviation of that "
        "deviation.",
        "Seeds vary the exploration, the initialization and the random baseline, never the prices: the "
        "intervals measure the learning's randomness on this one path, not how the policy would fare on "
        "other paths.",
        "Every stochasticity rate of the network trains for the same number of epochs here (so higher rates "
        "make more updates); no claim is judged on the conditioning table, which only shows the output "
        "layer of this pipeline.",
    ]


__all__ = ["SETTINGS", "QUICK", "config", "check", "plan", "trial", "finish"]
