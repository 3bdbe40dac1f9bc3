"""The OneNow pipeline on a real price series, judged on a later period it never saw.

One seed's whole pipeline is :func:`trial` (settings, seed) -> records, a pure function: it reads the
series, splits it by time (:meth:`PriceSeries.split`), and

1. for every candidate window W of the trailing reference, learns a Q-table by Q-learning on the fit
   period [Dworakowski 2019, section 4.3.2] and scores its greedy policy on the validation period; the
   best W is kept (no choice ever looks at the test period);
2. regresses that Q-table with a ReLU network under training stochasticity [Dworakowski 2019, section
   5.1.2], tracking the singular values of the output layer every epoch (the figures of the simulated
   markets, section 5.4), with the validation period as the held-out set;
3. plays the greedy policies of the Q-table and of the network on every period against hold-only,
   random, and the hindsight bound: the best action at each tick knowing that tick's reward, an upper
   bound and not a policy.

A policy's score on a period is its return per step and its fraction of the bound (its return over the
bound's). :func:`period_statistics` describes how the periods differ and :func:`figures` draws the
records of several seeds. The command ``minidl onenow --prices SERIES``
(:mod:`minidl.experiments.onenow_prices`) runs the seeds and writes the report.

The series is a single path: seeds vary the exploration, the initialization and the random baseline,
never the prices, so intervals over seeds measure how much the result depends on the learning's
randomness on this one path, not how it would fare on other paths.
"""
from dataclasses import dataclass

import numpy as np

from minidl import checks
from minidl.rl.deep_q import QNetwork, regress_q
from minidl.rl.discretize import Discretizer, PriceGrid
from minidl.rl.markets import Action
from minidl.rl.series import MarketSignals, PriceSeries, SeriesMarketEnv, market_signals, reward_table
from minidl.rl.tabular import greedy, q_learning

SETTINGS = {
    "prices": "googl", "reference": "trailing", "windows": [10, 20, 50],
    "test_fraction": 0.25, "gap": 0, "validation_fraction": 0.2, "cost": 0.5, "hold_penalty": 0.05,
    "bins": 20, "gamma": 0.9, "episodes": 500, "episode_length": 50, "alpha": 0.5, "alpha_decay": 0.7,
    "epsilon_decay": 0.99, "hidden": 25, "lr": 0.01, "momentum": 0.9, "epochs": 200,
    "stochasticity_rates": [0.0, 0.25, 0.5, 0.75], "seeds": 10, "quick": False,
}
QUICK = {"episodes": 150, "epochs": 40, "stochasticity_rates": [0.0, 0.5], "seeds": 3, "quick": True}
POLICIES = ("q_learning", "network", "hold", "random", "hindsight")
LEARNED = ("q_learning", "network")
PERIODS = ("fit", "validation", "test")


def settings(prices, quick=False, **overrides):
    """The settings of a run on ``prices`` (a source for PriceSeries.load): SETTINGS, then QUICK when
    ``quick``, then ``overrides`` (unknown names refused).

    Raises:
        ValueError: an override that is not a setting.
    """
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ValueError(f"real_prices.settings: overrides must be among {sorted(SETTINGS)}, got {unknown}")
    return {**SETTINGS, **(QUICK if quick else {}), **overrides, "prices": prices}


def period_statistics(prices, period, fit_mean):
    """How one period of ``prices`` behaves: a JSON-able dict.

    Keys: start, stop (ticks), steps, mean (price), volatility (standard deviation of the log return
    per step), trend (mean log return per step), growth (last price / first price), above_fit_mean
    (share of prices above ``fit_mean``, the paper's constant m).
    """
    window = np.asarray(prices, dtype=np.float64)[period.start:period.stop]
    returns = np.diff(np.log(window))
    return {"start": period.start, "stop": period.stop, "steps": len(period), "mean": float(window.mean()),
            "volatility": float(returns.std(ddof=1)), "trend": float(returns.mean()),
            "growth": float(window[-1] / window[0]), "above_fit_mean": float(np.mean(window > fit_mean))}


def lag_one_autocorrelation(values):
    """Correlation of consecutive values (0 for i.i.d. draws, near 1 for a slow series)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.corrcoef(values[:-1], values[1:])[0, 1])


def _ticks(period, first):
    """The ticks a policy acts on in ``period``: from the first with a reference, all but the last."""
    return range(max(period.start, first), period.stop - 1)


def _observed(signals, ticks):
    """(n, 1) float32 observations at ``ticks``, exactly as the environment shows them."""
    return signals.observations[ticks.start:ticks.stop, None].astype(np.float32)


def _discretizer(observations, n_bins):
    """Equal-width bins between the 1st and 99th percentiles of the fit period's observations."""
    low, high = np.percentile(observations, [1.0, 99.0])
    return Discretizer(PriceGrid(low, high, n_bins))


def fit_market(signals, periods, episode_length, cost, hold_penalty):
    """The market Q-learning walks: a SeriesMarketEnv on the fit period's ticks that have a reference.

    Raises:
        ValueError: as SeriesMarketEnv, e.g. an episode longer than those ticks.
    """
    return SeriesMarketEnv(signals, range(max(periods.fit.start, signals.first), periods.fit.stop),
                           episode_length, cost, hold_penalty)


def _learn_q(config, signals, periods, seed):
    env = fit_market(signals, periods, config["episode_length"], config["cost"], config["hold_penalty"])
    fit_ticks = _ticks(periods.fit, signals.first)
    discretizer = _discretizer(_observed(signals, fit_ticks), config["bins"])
    result = q_learning(env, discretizer, config["episodes"], config["gamma"], alpha=config["alpha"],
                        alpha_decay=config["alpha_decay"], epsilon_decay=config["epsilon_decay"], seed=seed)
    return env, discretizer, result.q


def _score(rewards, actions):
    """(return per step, total) of ``actions`` (n,) on the reward table rows ``rewards`` (n, 3)."""
    earned = rewards[np.arange(actions.size), actions]
    return float(earned.mean()), float(earned.sum())


def _evaluate(env, signals, periods, policies, seed):
    """One row per policy and period: return per step, fraction of the bound, share of trades."""
    rows = []
    random_actions = np.random.default_rng(seed)
    for name, period in periods.named().items():
        ticks = _ticks(period, signals.first)
        observations = _observed(signals, ticks)
        rewards = env.rewards[ticks.start:ticks.stop]
        actions = {"hold": np.full(len(ticks), int(Action.HOLD)),
                   "random": random_actions.integers(len(Action), size=len(ticks)),
                   "hindsight": np.argmax(rewards, axis=1)}
        actions.update({key: policy(observations) for key, policy in policies.items()})
        _, bound = _score(rewards, actions["hindsight"])
        for policy in POLICIES:
            per_step, total = _score(rewards, actions[policy])
            rows.append({"policy": policy, "period": name, "steps": len(ticks), "return_per_step": per_step,
                         "fraction_of_bound": total / bound,
                         "trades": float(np.mean(actions[policy] != Action.HOLD))})
    return rows


@dataclass
class Learned:
    """What :func:`learn` learned on the training part of a series.

    Attributes: signals (MarketSignals of the chosen window), discretizer, q (S, 3) Q-table of the fit
    period, fits ({stochasticity rate: QRegression}), network (the QNetwork of the first rate), choices
    ([(validation return per step, window)] per candidate), chosen (index into choices), env (the
    SeriesMarketEnv of the fit period).
    """
    signals: MarketSignals
    discretizer: Discretizer
    q: np.ndarray
    fits: dict
    network: QNetwork
    choices: list
    chosen: int
    env: SeriesMarketEnv


def learn(config, prices, periods, seed):
    """Everything learned from ``prices`` (T,) for one seed, from the fit and validation periods only.

    For every candidate window (``config["windows"]``; the constant reference has one candidate) a
    Q-table is learned by Q-learning on the fit period and its greedy policy scored on the validation
    period; the best window is kept (ties to the first), and its Q-table regressed by a network at
    every rate of ``config["stochasticity_rates"]`` with the validation period as the held-out set.
    Returns a :class:`Learned`.
    """
    q_seed, net_seed = (int(s) for s in np.random.default_rng(seed).integers(2**31, size=2))
    windows = config["windows"] if config["reference"] == "trailing" else [None]
    candidates = []
    for window in windows:
        signals = market_signals(prices, periods.fit.stop, config["reference"], window)
        env, discretizer, q = _learn_q(config, signals, periods, q_seed)
        ticks = _ticks(periods.validation, signals.first)
        table_actions = greedy(q)[discretizer(_observed(signals, ticks))]
        score, _ = _score(env.rewards[ticks.start:ticks.stop], table_actions)
        candidates.append((score, window, signals, env, discretizer, q))
    chosen = max(range(len(candidates)), key=lambda i: candidates[i][0])      # ties to the first
    _, _, signals, env, discretizer, q = candidates[chosen]

    def data(period):
        ticks = _ticks(period, signals.first)
        x = _observed(signals, ticks)
        return x, q[discretizer(x)]

    fits = {rate: regress_q(*data(periods.fit), *data(periods.validation), hidden=(config["hidden"],),
                            stochasticity=rate, lr=config["lr"], momentum=config["momentum"],
                            epochs=config["epochs"], seed=net_seed)
            for rate in config["stochasticity_rates"]}
    return Learned(signals=signals, discretizer=discretizer, q=q, fits=fits,
                   network=fits[config["stochasticity_rates"][0]].network,
                   choices=[(score, window) for score, window, *_ in candidates], chosen=chosen, env=env)


def trial(config, seed):
    """One seed's whole pipeline on the series ``config["prices"]``: JSON-able records.

    ``config`` holds the keys of SETTINGS. :func:`learn` learns on the training part, then every
    policy plays every period. Returns a dict of lists of rows:
        periods: per period (fit, validation, test) its :func:`period_statistics`, the lag-1
            autocorrelation of the chosen observation and the hindsight bound per step the paper's
            constant m would give;
        choices: per candidate window, the validation return per step of the Q-learning policy, and
            whether it was chosen;
        epochs: per stochasticity rate and epoch, the output layer's (layer "output") sigma_max, sigma_min and
            condition number, train_mse and validation_mse of the network regressing the Q-table;
        evaluation: per policy and period, return per step, fraction of the bound, share of trades.
    Every row carries the seed. Nothing from the test period reaches training: the reward scale, the
    constant m, the bins and the network's input scaling come from the fit period, the choice of W from
    the validation period.
    """
    seed = checks.integer(seed, "seed", "real_prices.trial", low=0)
    series = PriceSeries.load(config["prices"])
    periods = series.split(config["test_fraction"], config["gap"], config["validation_fraction"])
    learned = learn(config, series.prices, periods, seed)
    signals, fits = learned.signals, learned.fits
    policies = {"q_learning": lambda x: greedy(learned.q)[learned.discretizer(x)],
                "network": lambda x: np.argmax(learned.network.predict(x), axis=1)}
    random_seed = int(np.random.default_rng([seed, 1]).integers(2**31))

    epochs = [{"seed": seed, "stochasticity": rate, "batch_size": result.batch_size, "layer": "output",
               "epoch": record["epoch"],
               "sigma_max": record["sigma_max"], "sigma_min": record["sigma_min"],
               "condition_number": record["condition_number"], "train_mse": record.get("train_mse"),
               "validation_mse": record["test_mse"]}
              for rate, result in fits.items() for record in result.tracker.records(result.layer)]
    constant = reward_table(market_signals(series.prices, periods.fit.stop, "constant").gains,
                            config["cost"], config["hold_penalty"])
    period_rows = []
    for name, period in periods.named().items():
        ticks = _ticks(period, signals.first)
        row = period_statistics(series.prices, period, signals.mean)
        row.update({"seed": seed, "period": name,
                    "constant_m_bound_per_step": float(constant[ticks.start:ticks.stop].max(axis=1).mean()),
                    "observation_autocorrelation": lag_one_autocorrelation(
                        signals.observations[ticks.start:ticks.stop]),
                    "first_time": None if series.times is None else series.times[period.start],
                    "last_time": None if series.times is None else series.times[period.stop - 1]})
        period_rows.append(row)
    return {
        "periods": period_rows,
        "choices": [{"seed": seed, "window": window, "validation_return_per_step": score,
                     "chosen": i == learned.chosen} for i, (score, window) in enumerate(learned.choices)],
        "epochs": epochs,
        "evaluation": [dict(row, seed=seed)
                       for row in _evaluate(learned.env, signals, periods, policies, random_seed)],
    }

