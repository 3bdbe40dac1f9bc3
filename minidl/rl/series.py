"""Real price series as OneNow markets: a CSV column in time order, split by time, with no look-ahead.

The paper's markets draw i.i.d. prices [Dworakowski 2019, section 3.2]; a real series is one path in
time, so everything here follows time:

- :class:`PriceSeries` reads one column of a CSV file, rows oldest first. ``"googl"`` and
  ``"eurusd"`` name the two series bundled with gym-anytrading (the ``markets`` extra): GOOGL daily
  closes 2009-2018 and EUR/USD hourly ask closes of 2017. Any CSV works as ``"path:column"``.
- :meth:`PriceSeries.split` cuts it by time into fit | validation | (gap) | test. The fit and
  validation periods form the training part; every choice is made on the validation period, and the
  test period is only played at the end.
- :func:`market_signals` turns the prices into what the agent observes and what the reward pays, with
  everything estimated from the fit period only (the reference price, the reward scale) or from the
  past alone (the trailing reference), so nothing from a later period reaches training.
- :class:`SeriesMarketEnv` is the paper's market walking a period of the series (Gymnasium API).

Reference price. The paper's reward pays accumulate (m - p) - c and distribute (p - m) - c with m the
mean of the training prices. On a trending series (GOOGL rose about 6x) a constant m is stale: every
later price lies above it and "distribute" pays whatever the timing. The default is therefore a
trailing reference m_t, the mean of the W prices before t (known at time t), and the agent observes
the z-score z_t = (p_t - m_t) / s_t with s_t the standard deviation of those W prices. With
``reference="constant"`` m is the fit period's mean and the agent observes (p_t - m) / S.

Reward, with the price's deviation from its reference d_t = p_t / m_t - 1 under the trailing reference
(relative, so that a series whose level rises 6x keeps one scale) and d_t = p_t - m under the constant
one (the paper's), in units of S, the fit period's standard deviation of d_t:

    accumulate -d_t / S - cost,   distribute d_t / S - cost,   hold -hold_penalty

The defaults cost 0.5 and hold_penalty 0.05 are the paper's 1 and 0.1 in units of its price standard
deviation 2, so on the paper's normal market this reward is the paper's divided by 2. Under the
trailing reference the agent sees z_t but not s_t / S (how volatile the market is now against the fit
period): the reward is not a function of the observation, and the series is no Markov chain, so no
exact MDP exists and there is no tabular optimum, only the hindsight bound.
"""
import csv
import importlib.resources
import os
from dataclasses import dataclass

import gymnasium
import numpy as np
from gymnasium import spaces

from minidl import checks
from minidl.rl.markets import DEFAULT_EPISODE_LENGTH, Action, as_action

BUNDLED = {"googl": ("STOCKS_GOOGL.csv", "Close"), "eurusd": ("FOREX_EURUSD_1H_ASK.csv", "Close")}
MIN_ROWS = 50        # a series shorter than this cannot be split into three usable periods
MIN_PERIOD = 10      # prices in each of the fit, validation and test periods
REFERENCES = ("trailing", "constant")


class PriceSeries:
    """A price series in time order: prices (T,) float64, all finite and > 0.

    Attributes: prices, name (str), times (list of T str labels, the file's first column, or None).

    Raises:
        ValueError: prices not 1-D, not finite or not > 0, fewer than MIN_ROWS of them, or times of
            another length.
    """

    def __init__(self, prices, name="prices", times=None):
        prices = np.asarray(prices, dtype=np.float64)
        if prices.ndim != 1:
            raise ValueError(f"PriceSeries: prices must be 1-D, got shape {prices.shape}")
        if prices.size < MIN_ROWS:
            raise ValueError(f"PriceSeries: {name!r} must have at least {MIN_ROWS} prices, got {prices.size}")
        bad = np.flatnonzero(~(np.isfinite(prices) & (prices > 0.0)))
        if bad.size:
            raise ValueError(f"PriceSeries: the prices of {name!r} must be finite and > 0, got "
                             f"{float(prices[bad[0]])!r} at position {bad[0]} ({bad.size} such)")
        if times is not None and len(times) != prices.size:
            raise ValueError(f"PriceSeries: times must have one label per price ({prices.size}), "
                             f"got {len(times)}")
        self.prices = prices
        self.name = str(name)
        self.times = None if times is None else [str(label) for label in times]

    def __repr__(self):
        return f"PriceSeries({self.name!r}, {self.prices.size} prices)"

    def __len__(self):
        return self.prices.size

    @classmethod
    def load(cls, source):
        """Read a series: ``"googl"``, ``"eurusd"`` (bundled with gym-anytrading) or ``"path:column"``.

        The CSV has a header row; rows are read in file order, oldest first. ``times`` holds the first
        column when it is not the price column.

        Raises:
            ImportError: a bundled series without gym-anytrading (``pip install 'minidl[markets]'``).
            FileNotFoundError: no such file.
            ValueError: a source of another form, a missing column, a non-numeric, non-finite or
                non-positive price (naming its line), or fewer than MIN_ROWS rows.
        """
        if not isinstance(source, str):
            raise TypeError(f"PriceSeries.load: source must be a str, got {source!r}")
        if source in BUNDLED:
            file_name, column = BUNDLED[source]
            with importlib.resources.as_file(_bundled_data() / file_name) as path:
                times, prices = _read_column(path, column)
            return cls(prices, name=source, times=times)
        path, colon, column = source.rpartition(":")
        if not colon or not path or not column:
            raise ValueError(f"PriceSeries.load: source must be one of {', '.join(map(repr, BUNDLED))} "
                             f"or 'path:column', got {source!r}")
        times, prices = _read_column(path, column)
        return cls(prices, name=f"{os.path.basename(path)}:{column}", times=times)

    def split(self, test_fraction=0.25, gap=0, validation_fraction=0.2):
        """Cut the series by time into fit | validation | gap | test (:class:`Periods`).

        The last round(test_fraction T) prices are the test period; ``gap`` prices before them belong
        to no period; the last round(validation_fraction n) of the n prices before the gap are the
        validation period, the rest the fit period.

        Raises:
            ValueError: a fraction outside (0, 1), a negative gap, or a period of fewer than MIN_PERIOD
                prices.
        """
        where = "PriceSeries.split"
        test_fraction = checks.real(test_fraction, "test_fraction", where, low=0.0, high=1.0,
                                    low_open=True, high_open=True)
        validation_fraction = checks.real(validation_fraction, "validation_fraction", where, low=0.0,
                                          high=1.0, low_open=True, high_open=True)
        gap = checks.integer(gap, "gap", where, low=0)
        n_test = round(test_fraction * len(self))
        train_stop = len(self) - n_test - gap
        fit_stop = train_stop - round(validation_fraction * max(train_stop, 0))
        periods = Periods(fit=range(0, fit_stop), validation=range(fit_stop, train_stop),
                          test=range(len(self) - n_test, len(self)))
        short = {name: len(period) for name, period in periods.named().items() if len(period) < MIN_PERIOD}
        if short:
            raise ValueError(f"{where}: every period must hold at least {MIN_PERIOD} prices, got {short} "
                             f"from {len(self)} prices with test_fraction={test_fraction}, gap={gap}, "
                             f"validation_fraction={validation_fraction}")
        return periods


def _bundled_data():
    try:
        return importlib.resources.files("gym_anytrading") / "datasets" / "data"
    except ModuleNotFoundError:
        raise ImportError("PriceSeries.load: the bundled series come with gym-anytrading; install the "
                          "markets extra: pip install 'minidl[markets]'") from None


def _read_column(path, column):
    """(times or None, prices (T,) float64) of ``column`` of the CSV file at ``path``."""
    where = "PriceSeries.load"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: no file {os.fspath(path)!r}; expected a CSV file with a header row")
    with open(path, newline="", encoding="utf-8-sig") as stream:    # a byte-order mark is no name
        rows = csv.reader(stream)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{where}: {os.fspath(path)!r} is empty; expected a header row and prices")
        header = [name.strip() for name in header]
        if column not in header:
            raise ValueError(f"{where}: {os.fspath(path)!r} has no column {column!r}; its columns are {header}")
        index = header.index(column)
        times, prices = [], []
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != len(header):      # "1,234.5" unquoted: a thousands separator would split a price
                raise ValueError(f"{where}: {os.fspath(path)!r} line {line} has {len(row)} fields, the header "
                                 f"{len(header)}; got {','.join(row)!r}")
            text = row[index].strip()
            try:
                price = float(text)
            except ValueError:
                raise ValueError(f"{where}: {os.fspath(path)!r} line {line}: column {column!r} must hold "
                                 f"a number, got {text!r}") from None
            if not (np.isfinite(price) and price > 0.0):
                raise ValueError(f"{where}: {os.fspath(path)!r} line {line}: prices must be finite and > 0, "
                                 f"got {text!r}")
            times.append(row[0].strip())
            prices.append(price)
    if len(prices) < MIN_ROWS:
        raise ValueError(f"{where}: {os.fspath(path)!r} must have at least {MIN_ROWS} rows of prices, "
                         f"got {len(prices)}")
    return (times if index != 0 else None), np.array(prices)


@dataclass(frozen=True)
class Periods:
    """Index ranges of a series split by time: fit and validation (the training part), then test."""
    fit: range
    validation: range
    test: range

    @property
    def train(self):
        """The training part: the fit period followed by the validation period."""
        return range(self.fit.start, self.validation.stop)

    @property
    def gap(self):
        """The prices between the training part and the test period, used by neither."""
        return range(self.validation.stop, self.test.start)

    def named(self):
        """{"fit": range, "validation": range, "test": range}."""
        return {"fit": self.fit, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class MarketSignals:
    """What the agent observes and what the reward pays at every tick t of a series.

    Attributes:
        observations: (T,) float64 z_t (NaN before ``first``).
        gains: (T,) float64 d_t / S, the reward of distribute before its cost (NaN before ``first``).
        first: the first tick with a reference price (W for the trailing reference, 0 for the constant).
        reference: "trailing" or "constant"; window: W (None for the constant reference).
        scale: S; mean: the fit period's mean price (the paper's m).
    """
    observations: np.ndarray
    gains: np.ndarray
    first: int
    reference: str
    window: int
    scale: float
    mean: float


def market_signals(prices, fit_stop, reference="trailing", window=20):
    """The observations and reward gains of ``prices`` (T,), learned from ``prices[:fit_stop]`` only.

    ``reference="trailing"``: m_t is the mean and s_t the standard deviation of p_{t-W}..p_{t-1}; the
    observation is (p_t - m_t) / s_t (0 when s_t = 0), the gain d_t / S with d_t = p_t / m_t - 1 and S
    the standard deviation of d_t over the fit period's ticks t >= W. ``reference="constant"``: m and S are the mean and standard
    deviation of the fit period's prices, the observation (p_t - m) / S. Values at tick t depend on
    p_0..p_t and the fit period alone, so a later period cannot change an earlier one.

    Raises:
        ValueError: an unknown reference, a window < 2, or a fit period too short for it.
    """
    where = "market_signals"
    prices = np.asarray(prices, dtype=np.float64)
    checks.one_of(reference, REFERENCES, "reference", where)
    fit_stop = checks.integer(fit_stop, "fit_stop", where, low=2, high=prices.size)
    fit = prices[:fit_stop]
    if reference == "constant":
        scale = float(fit.std())
        if scale == 0.0:
            raise ValueError(f"{where}: the fit period's prices must vary, got all equal to {fit[0]!r}")
        gains = (prices - fit.mean()) / scale
        return MarketSignals(gains, gains, 0, reference, None, scale, float(fit.mean()))
    window = checks.integer(window, "window", where, low=2)
    if fit_stop < window + MIN_PERIOD:
        raise ValueError(f"{where}: the fit period must hold at least window + {MIN_PERIOD} = "
                         f"{window + MIN_PERIOD} prices, got {fit_stop}")
    past = np.lib.stride_tricks.sliding_window_view(prices, window)[:-1]    # row t - W: p_{t-W}..p_{t-1}
    reference_prices = past.mean(axis=1)
    spread = past.std(axis=1)
    observations = np.full(prices.size, np.nan)
    observations[window:] = np.divide(prices[window:] - reference_prices, spread, out=np.zeros_like(spread),
                                      where=spread > 0.0)
    deviations = np.full(prices.size, np.nan)
    deviations[window:] = prices[window:] / reference_prices - 1.0
    scale = float(deviations[window:fit_stop].std())
    if scale == 0.0:
        raise ValueError(f"{where}: the fit period's prices must deviate from their trailing mean, "
                         f"got none that do")
    return MarketSignals(observations, deviations / scale, window, reference, window, scale, float(fit.mean()))


def reward_table(gains, cost=0.5, hold_penalty=0.05):
    """Rewards (T, 3) of every action (columns in :class:`Action` order) at every tick of ``gains`` (T,).

    accumulate -gain - cost, distribute gain - cost, hold -hold_penalty; the paper's reward
    [Dworakowski 2019, section 3.2] with the price measured as (p_t - m_t) / S.
    """
    gains = np.asarray(gains, dtype=np.float64)
    table = np.empty(gains.shape + (len(Action),))
    table[..., Action.ACCUMULATE] = -gains - cost
    table[..., Action.DISTRIBUTE] = gains - cost
    table[..., Action.HOLD] = -hold_penalty
    return table


class SeriesMarketEnv(gymnasium.Env):
    """The paper's market walking a period of a real series: observe z_t, accumulate, distribute, hold.

    Observation: float32 array (1,) holding z_t (see :func:`market_signals`). Actions: :class:`Action`.
    Reward: :func:`reward_table` at tick t. An episode of L steps walks ticks t0..t0 + L inside
    ``period``: the agent acts at t0..t0 + L - 1 and its last observation shows t0 + L. The start t0 is
    drawn uniformly by ``reset(seed=...)`` or given as ``reset(options={"start": t0})``; with
    ``episode_length=None`` an episode walks the whole period. Episodes end truncated.

    Raises:
        ValueError: a period outside the ticks with a reference, or shorter than one episode.
    """
    metadata = {"render_modes": []}

    def __init__(self, signals, period, episode_length=DEFAULT_EPISODE_LENGTH, cost=0.5, hold_penalty=0.05):
        where = "SeriesMarketEnv"
        if not isinstance(signals, MarketSignals):
            raise TypeError(f"{where}: signals must be MarketSignals (see market_signals), got {signals!r}")
        if not isinstance(period, range) or period.step != 1:
            raise TypeError(f"{where}: period must be a range of ticks, got {period!r}")
        if period.start < signals.first or period.stop > signals.gains.size:
            raise ValueError(f"{where}: period must lie within ticks {signals.first}..{signals.gains.size - 1} "
                             f"(those with a reference price), got {period}")
        longest = len(period) - 1
        if longest < 1:
            raise ValueError(f"{where}: period must hold at least 2 ticks, got {period}")
        self.episode_length = longest if episode_length is None else checks.integer(
            episode_length, "episode_length", where, low=1, high=longest)
        self.signals, self.period = signals, period
        self.cost = checks.real(cost, "cost", where, low=0.0)
        self.hold_penalty = checks.real(hold_penalty, "hold_penalty", where, low=0.0)
        self.rewards = reward_table(signals.gains, self.cost, self.hold_penalty)
        self.action_space = spaces.Discrete(len(Action))
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
        self._t = self._stop = None

    def reset(self, *, seed=None, options=None):
        """Start an episode at a random tick (or ``options={"start": t0}``): (observation, info)."""
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        last_start = self.period.stop - 1 - self.episode_length
        start = options.pop("start", None)
        if options:
            raise ValueError(f"SeriesMarketEnv.reset: options must be among ['start'], got {sorted(options)}")
        if start is None:
            start = int(self.np_random.integers(self.period.start, last_start + 1))
        start = checks.integer(start, "options['start']", "SeriesMarketEnv.reset", low=self.period.start,
                               high=last_start)
        self._t, self._stop = start, start + self.episode_length
        return self._observation(), {"tick": self._t}

    def step(self, action):
        """Act at tick t: (observation of t + 1, reward, terminated, truncated, info["tick"])."""
        if self._t is None or self._t >= self._stop:
            raise ValueError("SeriesMarketEnv.step: expected a running episode; call reset() first")
        index = int(as_action(action, "SeriesMarketEnv.step"))
        reward = float(self.rewards[self._t, index])
        self._t += 1
        return self._observation(), reward, False, self._t == self._stop, {"tick": self._t}

    def _observation(self):
        return np.array([self.signals.observations[self._t]], dtype=np.float32)


def make_series_market(series, period="fit", reference="trailing", window=20,
                       episode_length=DEFAULT_EPISODE_LENGTH, test_fraction=0.25, gap=0, validation_fraction=0.2,
                       cost=0.5, hold_penalty=0.05):
    """A :class:`SeriesMarketEnv` on one period of ``series`` (a PriceSeries or a source for
    :meth:`PriceSeries.load`), its signals learned on the fit period of
    ``series.split(test_fraction, gap, validation_fraction)``. The entry point of
    ``minidl/OneNowPrices-v0``. ``period`` is "fit", "validation", "train" or "test"; ticks before the
    first reference price are left out.
    """
    series = series if isinstance(series, PriceSeries) else PriceSeries.load(series)
    periods = series.split(test_fraction, gap, validation_fraction)
    chosen = {**periods.named(), "train": periods.train}
    checks.one_of(period, tuple(chosen), "period", "make_series_market")
    signals = market_signals(series.prices, periods.fit.stop, reference, window)
    ticks = chosen[period]
    return SeriesMarketEnv(signals, range(max(ticks.start, signals.first), ticks.stop), episode_length,
                           cost, hold_penalty)
