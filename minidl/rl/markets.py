"""The OneNow market environments ([Dworakowski 2019, section 3.2], docs/onenow.md), as Gymnasium environments.

An investment fund faces the market price of a hedged portfolio and may accumulate (buy), distribute
(sell) or hold. Two price processes drive the markets:

- :class:`NormalPrices`: i.i.d. draws from N(3, 2^2), the paper's Normal environment;
- :class:`SinePrices`: 3 + 2 sin(2 pi t / 20 000), optionally with Gaussian noise; with ``shuffle=True``
  each tick t is drawn uniformly from one period, which reproduces the paper's shuffled series (i.i.d.
  draws from an arcsine-shaped distribution); without it the price is a slow time series.

Two markets use them:

- :class:`MarketEnv`, the paper's market. Observation [price]. With m the reference price (the mean of
  the training prices, hidden from the agent), c the transaction cost and h the waiting penalty:
  accumulate at p earns (m - p) - c, distribute earns (p - m) - c, hold earns -h (c = 1, h = 0.1).
- :class:`InventoryMarketEnv`, a market that carries a position q in [0, K] (see its docstring for the
  exact reward). Inventory is marked to market, so what an action is worth depends on the future and
  the discount factor changes the optimal policy.

An episode of length L walks a price path p_0..p_L: the agent acts at p_0..p_{L-1} and its last
observation shows p_L. Episodes end by truncation (a time limit), never by termination: the markets
themselves go on forever, which is what the discounted MDP in :mod:`minidl.rl.mdp` describes.
Randomness comes only from ``reset(seed=...)`` through ``self.np_random``; a held-out path can be
replayed with ``reset(options={"prices": path})``.
"""
import operator
from enum import IntEnum

import gymnasium
import numpy as np
from gymnasium import spaces

from minidl import checks

DEFAULT_EPISODE_LENGTH = 100


class Action(IntEnum):
    """The agent's actions, in the order of the Q-table columns [Dworakowski 2019, section 3.2]."""
    ACCUMULATE = 0
    DISTRIBUTE = 1
    HOLD = 2


def as_action(action, where):
    """``action`` as an :class:`Action`: any integer in 0..2 (Python's or NumPy's), never a bool.

    Raises:
        ValueError: for anything else, naming ``where``.
    """
    try:
        index = operator.index(action)
    except TypeError:
        index = None
    if index is None or isinstance(action, (bool, np.bool_)) or not 0 <= index < len(Action):
        raise ValueError(f"{where}: expected an action in 0..{len(Action) - 1} "
                         f"({', '.join(a.name for a in Action)}), got {action!r}")
    return Action(index)


class NormalPrices:
    """I.i.d. prices p ~ N(mean, sd^2); the paper's Normal environment is mean 3, sd 2.

    ``mixture()`` describes the stationary distribution as Gaussian components (here one), which is
    what :mod:`minidl.rl.mdp` integrates over the price bins.

    Raises:
        TypeError: when mean or sd is not a real number (a string is refused, not parsed).
        ValueError: for sd <= 0, NaN or infinity.
    """
    iid = True

    def __init__(self, mean=3.0, sd=2.0):
        self.mean = checks.real(mean, "mean", "NormalPrices")
        self.sd = checks.real(sd, "sd", "NormalPrices", low=0, low_open=True)

    def __repr__(self):
        return f"NormalPrices(mean={self.mean}, sd={self.sd})"

    def path(self, rng, length):
        """(length,) float64 i.i.d. prices drawn from the NumPy Generator ``rng``."""
        return self.mean + self.sd * rng.standard_normal(length)

    def mixture(self):
        """The stationary distribution as (means (M,), sd, weights (M,)) of Gaussian components."""
        return np.array([self.mean]), self.sd, np.ones(1)

    def typical_range(self, n_sd=3.0):
        """(low, high) holding all but a tail of the prices: mean +- n_sd sd."""
        return self.mean - n_sd * self.sd, self.mean + n_sd * self.sd

    def support(self):
        """(low, high) bounding every price a path can hold: (-inf, inf) for Gaussian prices."""
        return -np.inf, np.inf


class SinePrices:
    """Prices level + amplitude sin(2 pi t / period) + noise, t the integer tick [Dworakowski 2019, section 3.2].

    The original: level 3, amplitude 2, period 20 000 ticks (range [1, 5]), the series then shuffled.
    With ``shuffle=True`` every tick is drawn uniformly from {0, ..., period - 1}, independently: the
    marginal distribution of the shuffled series, with independent draws. With ``shuffle=False`` a path
    walks consecutive ticks from a uniformly random start, a time series whose price alone is not a
    Markov state. ``noise_sd`` adds i.i.d. N(0, noise_sd^2) noise to every tick.

    Raises:
        TypeError: for non-real parameters or a non-integer period.
        ValueError: for a negative amplitude or noise_sd, a period below 1, NaN or infinity.
    """

    def __init__(self, level=3.0, amplitude=2.0, period=20_000, noise_sd=0.0, shuffle=False):
        self.level = checks.real(level, "level", "SinePrices")
        self.amplitude = checks.real(amplitude, "amplitude", "SinePrices", low=0)
        self.period = checks.integer(period, "period", "SinePrices", low=1)
        self.noise_sd = checks.real(noise_sd, "noise_sd", "SinePrices", low=0)
        self.shuffle = bool(shuffle)

    def __repr__(self):
        return (f"SinePrices(level={self.level}, amplitude={self.amplitude}, period={self.period}, "
                f"noise_sd={self.noise_sd}, shuffle={self.shuffle})")

    @property
    def iid(self):
        """True when consecutive prices are independent draws (``shuffle=True``)."""
        return self.shuffle

    @property
    def mean(self):
        """Stationary mean of the price (the sine averages to zero over whole periods)."""
        return float(self._wave(np.arange(self.period)).mean())

    def _wave(self, ticks):
        return self.level + self.amplitude * np.sin(2.0 * np.pi * ticks / self.period)

    def path(self, rng, length):
        """(length,) float64 prices drawn from the NumPy Generator ``rng``."""
        if self.shuffle:
            ticks = rng.integers(0, self.period, size=length)
        else:
            ticks = rng.integers(0, self.period) + np.arange(length)
        prices = self._wave(ticks)
        if self.noise_sd > 0.0:
            prices = prices + self.noise_sd * rng.standard_normal(length)
        return prices

    def mixture(self):
        """Stationary distribution as (means (period,), noise_sd, weights (period,)): one component a tick.

        With ``noise_sd == 0`` the components are point masses at the wave's values.
        """
        return self._wave(np.arange(self.period)), self.noise_sd, np.full(self.period, 1.0 / self.period)

    def typical_range(self, n_sd=3.0):
        """(low, high) holding all but a tail of the prices: the wave's range widened by n_sd noise sd."""
        spread = self.amplitude + n_sd * self.noise_sd
        return self.level - spread, self.level + spread

    def support(self):
        """(low, high) bounding every price a path can hold: the wave's range without noise, else
        (-inf, inf)."""
        if self.noise_sd > 0.0:
            return -np.inf, np.inf
        return self.level - self.amplitude, self.level + self.amplitude


class _MarketEpisodes(gymnasium.Env):
    """What both markets share: parameters, the episode's price path, action checks."""
    metadata = {"render_modes": []}
    _reset_options = ["prices"]

    def __init__(self, prices, episode_length, cost, hold_penalty):
        name = type(self).__name__
        if not all(hasattr(prices, method) for method in ("path", "mixture", "support")):
            raise ValueError(f"{name}: expected a price process such as NormalPrices or SinePrices, "
                             f"got {prices!r}")
        self.prices = prices
        self.episode_length = checks.integer(episode_length, "episode_length", name, low=1)
        self.cost = checks.real(cost, "cost", name, low=0)
        self.hold_penalty = checks.real(hold_penalty, "hold_penalty", name, low=0)
        self.action_space = spaces.Discrete(len(Action))
        self._path = None
        self._t = 0

    def reset(self, *, seed=None, options=None):
        """Start an episode: (observation, info).

        ``options={"prices": path}`` replays the given path (T + 1,) as an episode of T steps.
        """
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        path = options.pop("prices", None)
        if path is None:
            path = self.prices.path(self.np_random, self.episode_length + 1)
        else:
            path = np.asarray(path, dtype=np.float64)
            if path.ndim != 1 or path.size < 2 or not np.all(np.isfinite(path)):
                raise ValueError(f"{type(self).__name__}.reset: expected options['prices'] a 1-D finite "
                                 f"array of at least 2 prices, got shape {path.shape}")
        self._path = path.astype(np.float32).tolist()  # the prices as observed, as Python floats
        self._t = 0
        self._reset_state(options)
        return self._observation(), {}

    def _reset_state(self, options):
        if options:
            raise ValueError(f"{type(self).__name__}.reset: expected options among "
                             f"{self._reset_options}, got {sorted(options)}")

    def _check_action(self, action):
        name = type(self).__name__
        if self._path is None or self._t >= len(self._path) - 1:
            raise ValueError(f"{name}.step: expected a running episode; call reset() first")
        return as_action(action, f"{name}.step")

    @property
    def price(self):
        """The current price (what the last observation showed), a float."""
        return self._path[self._t]


class MarketEnv(_MarketEpisodes):
    """The paper's market [Dworakowski 2019, section 3.2]: observe the price, accumulate, distribute or hold.

    Observation: float32 array (1,) holding the price p, bounded by ``prices.support()`` (finite for
    the sine without noise). Actions: :class:`Action`. Reward at price p:
    accumulate (m - p) - cost, distribute (p - m) - cost, hold -hold_penalty, with m =
    ``reference_price`` (hidden from the agent; by default the stationary mean of ``prices``, which the
    mean of the paper's training prices estimates). The reward is computed from the float32 price the
    agent observes. Episodes last ``episode_length`` steps and end truncated.
    """

    def __init__(self, prices, episode_length=DEFAULT_EPISODE_LENGTH, cost=1.0, hold_penalty=0.1,
                 reference_price=None):
        super().__init__(prices, episode_length, cost, hold_penalty)
        self.reference_price = (prices.mean if reference_price is None
                                else checks.real(reference_price, "reference_price", "MarketEnv"))
        low, high = prices.support()
        self.observation_space = spaces.Box(low, high, shape=(1,), dtype=np.float32)

    def reward(self, price, action):
        """Reward of ``action`` at ``price``: scalars, or NumPy arrays of one shape (float64 result).

        Linear in the price, so its expectation is its value at the expected price.
        """
        m = self.reference_price
        return ((action == Action.ACCUMULATE) * ((m - price) - self.cost)
                + (action == Action.DISTRIBUTE) * ((price - m) - self.cost)
                - (action == Action.HOLD) * self.hold_penalty)

    def step(self, action):
        """Act at the current price: (observation, reward, terminated, truncated, info)."""
        action = self._check_action(action)
        reward = float(self.reward(self._path[self._t], action))
        self._t += 1
        return self._observation(), reward, False, self._t == len(self._path) - 1, {}

    def _observation(self):
        return np.array([self._path[self._t]], dtype=np.float32)


class InventoryMarketEnv(_MarketEpisodes):
    """A market that carries inventory: position q in {0, ..., capacity}, marked to market.

    Observation: float32 array (2,) holding [price p_t, position q_t]. Accumulate buys one unit at p_t
    (q -> q + 1), distribute sells one (q -> q - 1), hold keeps q. The reward of the step from t to t + 1,
    with c the cost, h the waiting penalty, is the change in the book's value at market prices:

        r_t = q_{t+1} (p_{t+1} - p_t) - c [a trade happened] - h [no trade happened]

    so a unit bought at p_t earns, over the steps it is held, the price it is sold at (or marked at)
    minus p_t. Invalid actions (accumulate at q = capacity, distribute at q = 0) are treated as hold,
    with the hold reward minus ``invalid_penalty``, and ``info["invalid"]`` is True. Episodes start flat
    (q = 0) unless ``reset(options={"position": q})``.
    """

    _reset_options = ["position", "prices"]

    def __init__(self, prices, capacity=3, episode_length=DEFAULT_EPISODE_LENGTH, cost=1.0,
                 hold_penalty=0.1, invalid_penalty=1.0):
        super().__init__(prices, episode_length, cost, hold_penalty)
        self.capacity = checks.integer(capacity, "capacity", "InventoryMarketEnv", low=1)
        self.invalid_penalty = checks.real(invalid_penalty, "invalid_penalty", "InventoryMarketEnv", low=0)
        low, high = prices.support()
        self.observation_space = spaces.Box(np.array([low, 0.0], dtype=np.float32),
                                            np.array([high, self.capacity], dtype=np.float32),
                                            dtype=np.float32)
        self._position = 0

    def transition(self, position, action):
        """(next position, valid) for ``action`` at ``position``: scalars, or NumPy arrays of one shape."""
        moved = position + (action == Action.ACCUMULATE) - (action == Action.DISTRIBUTE)
        valid = (moved >= 0) & (moved <= self.capacity)
        return position + valid * (moved - position), valid

    def reward(self, position, price, next_price, action):
        """r_t for ``action`` at ``position`` and ``price``, marked at ``next_price``.

        Scalars, or NumPy arrays of one shape. Linear in both prices, so its expectation is its value at
        the expected prices.
        """
        next_position, valid = self.transition(position, action)
        traded = next_position != position
        return (next_position * (next_price - price) - traded * self.cost - (1 - traded) * self.hold_penalty
                - (1 - valid) * self.invalid_penalty)

    def _reset_state(self, options):
        position = options.pop("position", 0)
        super()._reset_state(options)
        self._position = checks.integer(position, "options['position']", "InventoryMarketEnv.reset", low=0)
        if self._position > self.capacity:
            raise ValueError(f"InventoryMarketEnv.reset: expected options['position'] in 0..{self.capacity}, "
                             f"got {position!r}")

    def step(self, action):
        """Act at the current price: (observation, reward, terminated, truncated, info["invalid"])."""
        action = self._check_action(action)
        price, next_price = self._path[self._t], self._path[self._t + 1]
        reward = float(self.reward(self._position, price, next_price, action))
        next_position, valid = self.transition(self._position, action)
        self._position = int(next_position)
        self._t += 1
        return (self._observation(), reward, False, self._t == len(self._path) - 1,
                {"invalid": not valid})

    @property
    def position(self):
        """The current position q, an int."""
        return self._position

    def _observation(self):
        return np.array([self._path[self._t], self._position], dtype=np.float32)


def make_market(name, episode_length=DEFAULT_EPISODE_LENGTH, **kwargs):
    """A OneNow market by name, with the paper's constants (docs/onenow.md).

    ``"normal"``: MarketEnv on NormalPrices(3, 2); ``"sine"``: MarketEnv on the shuffled SinePrices
    (the paper's i.i.d. draws); ``"sine_series"``: the unshuffled sine; ``"inventory"``:
    InventoryMarketEnv on NormalPrices(3, 2). ``kwargs`` go to the environment.
    """
    makers = {
        "normal": lambda: MarketEnv(NormalPrices(), episode_length, **kwargs),
        "sine": lambda: MarketEnv(SinePrices(shuffle=True), episode_length, **kwargs),
        "sine_series": lambda: MarketEnv(SinePrices(shuffle=False), episode_length, **kwargs),
        "inventory": lambda: InventoryMarketEnv(NormalPrices(), episode_length=episode_length, **kwargs),
    }
    if name not in makers:
        raise ValueError(f"make_market: expected a market among {sorted(makers)}, got {name!r}")
    return makers[name]()
