"""Discrete states for tabular solvers: price bins, and (price bin, position) pairs as one state index.

The paper's state was the price rounded to 2 decimals ([Dworakowski 2019, section 4.3.2], docs/onenow.md):
:meth:`PriceGrid.rounding` builds exactly those bins; :meth:`PriceGrid.covering` builds a configurable
number of equal-width bins over a price process's typical range. Prices outside the grid fall into the
end bins, so every price has a state.
"""
import numpy as np

from minidl import checks


class PriceGrid:
    """``n_bins`` equal-width price bins over [low, high].

    Bin i holds the prices in [edges[i], edges[i + 1]); bin 0 also holds every price below ``low`` and
    the last bin every price from ``high`` up.

    Attributes: edges (n_bins + 1,) float64, centers (n_bins,) float64, n_bins.

    Raises:
        TypeError: for a non-integer n_bins or non-real bounds.
        ValueError: for n_bins < 1, non-finite bounds or high <= low.
    """

    def __init__(self, low, high, n_bins):
        self.n_bins = checks.integer(n_bins, "n_bins", "PriceGrid", low=1)
        low = checks.real(low, "low", "PriceGrid")
        high = checks.real(high, "high", "PriceGrid", low=low, low_open=True)
        self.edges = np.linspace(low, high, self.n_bins + 1)
        self.centers = 0.5 * (self.edges[:-1] + self.edges[1:])

    def __repr__(self):
        return f"PriceGrid(low={self.edges[0]}, high={self.edges[-1]}, n_bins={self.n_bins})"

    @classmethod
    def rounding(cls, low, high, decimals=2):
        """The paper's state: one bin per price rounded to ``decimals`` decimals, from low to high.

        Bins are centred on the multiples of 10**-decimals between ``low`` and ``high`` (both rounded).
        """
        step = 10.0 ** -decimals
        first, last = round(low / step), round(high / step)
        if last <= first:
            raise ValueError(f"PriceGrid.rounding: expected low < high after rounding to {decimals} "
                             f"decimals, got low={low!r}, high={high!r}")
        return cls((first - 0.5) * step, (last + 0.5) * step, last - first + 1)

    @classmethod
    def covering(cls, prices, n_bins, n_sd=3.0):
        """``n_bins`` bins over ``prices.typical_range(n_sd)`` (a price process from minidl.rl.markets)."""
        low, high = prices.typical_range(n_sd)
        return cls(low, high, n_bins)

    def index(self, price):
        """Bin index of ``price``: an int for a scalar, an int64 array of the same shape for an array."""
        return np.searchsorted(self.edges[1:-1], price, side="right")


class Discretizer:
    """Maps a market observation to a state index for a Q-table.

    For the paper's market (observation [price]) the state is the price bin. For the inventory market
    (observation [price, position], ``capacity`` given) the state is position * n_bins + price bin, so
    the Q-table rows run through all price bins at position 0, then at position 1, and so on.

    Attributes: grid (PriceGrid), n_positions (1 without inventory), n_states = n_positions * n_bins.

    Raises:
        TypeError: when ``grid`` is not a PriceGrid or ``capacity`` not an integer.
        ValueError: for a capacity below 1.
    """

    def __init__(self, grid, capacity=None):
        self.grid = checks.instance(grid, PriceGrid, "grid", "Discretizer")
        self.capacity = None if capacity is None else checks.integer(capacity, "capacity", "Discretizer", low=1)
        self.n_positions = 1 if capacity is None else self.capacity + 1
        self.n_states = self.n_positions * grid.n_bins

    def __repr__(self):
        return f"Discretizer({self.grid!r}, capacity={self.capacity})"

    @classmethod
    def for_env(cls, env, n_bins, n_sd=3.0):
        """A discretizer for a market ``env``: ``n_bins`` bins covering its prices, its capacity if any."""
        return cls(PriceGrid.covering(env.prices, n_bins, n_sd), getattr(env, "capacity", None))

    def __call__(self, observation):
        """State index (int) of one observation (1,) or (2,); (N,) int64 states of observations (N, d)."""
        observation = np.asarray(observation)
        width = 1 if self.capacity is None else 2
        if observation.shape[-1:] != (width,):
            raise ValueError(f"Discretizer: expected observations of shape (..., {width}), "
                             f"got shape {observation.shape}")
        bins = self.grid.index(observation[..., 0])
        if self.capacity is None:
            return bins
        positions = np.rint(observation[..., 1]).astype(np.int64)
        if np.any((positions < 0) | (positions > self.capacity)):
            raise ValueError(f"Discretizer: expected positions in 0..{self.capacity}, "
                             f"got {observation[..., 1]}")
        return positions * self.grid.n_bins + bins

    def price_bin(self, states):
        """Price bin of each state index (int or int array)."""
        return np.asarray(states) % self.grid.n_bins

    def position(self, states):
        """Position of each state index (int or int array); 0 without inventory."""
        return np.asarray(states) // self.grid.n_bins
