"""The OneNow data set: market states with the Q value of every action [Dworakowski 2019, sections 3.2, 5.4].

The paper's data files were never published (docs/onenow.md), so this module simulates them:

1. :func:`solve_market` learns a market's Q-table, exactly by value iteration on the discretized MDP or
   model-free by Q-learning (the paper's way);
2. :func:`simulate_table` plays the market with uniformly random actions and records every state the
   agent acts in, with the Q-table row of that state: a :class:`MarketTable` with columns ``price``,
   ``position`` (inventory market only) and ``q_accumulate``, ``q_distribute``, ``q_hold``, all float64;
3. :func:`save_table` / :func:`load_table` keep tables as CSV files with a header line;
4. :func:`merge_tables` joins the per-market tables into one regression set (X, Y) whose outputs are
   the Q value of every action ("the outputs of the network are the reward function for every possible
   agent action", section 3.2).

:func:`build_tables` runs steps 1-2 for the standard markets. Needs the rl extra (gymnasium).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minidl import checks
from minidl.files import write_atomically
from minidl.rl.discretize import Discretizer
from minidl.rl.markets import Action, make_market
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import q_learning, value_iteration

Q_COLUMNS = tuple(f"q_{action.name.lower()}" for action in Action)
SOLVERS = ("value_iteration", "q_learning")


@dataclass(frozen=True, eq=False)
class MarketTable:
    """One market's table: ``values`` (N, C) float64 under the names ``columns`` (C,).

    Columns: ``price``, then ``position`` for the inventory market, then :data:`Q_COLUMNS`.
    """
    environment: str
    columns: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self):
        columns = tuple(self.columns)
        if columns[:1] != ("price",) or columns[-len(Q_COLUMNS):] != Q_COLUMNS \
                or len(columns) not in (len(Q_COLUMNS) + 1, len(Q_COLUMNS) + 2) \
                or (len(columns) == len(Q_COLUMNS) + 2 and columns[1] != "position"):
            raise ValueError(f"MarketTable: expected columns ('price', ['position',] "
                             f"{', '.join(Q_COLUMNS)}), got {columns}")
        values = np.asarray(self.values)
        if values.dtype != np.float64 or values.ndim != 2 or values.shape[1] != len(columns):
            raise ValueError(f"MarketTable: expected float64 values of shape (N, {len(columns)}), "
                             f"got {values.dtype} {values.shape}")
        object.__setattr__(self, "columns", columns)

    def __repr__(self):
        return f"MarketTable({self.environment!r}, columns={self.columns}, rows={len(self)})"

    def __len__(self):
        return self.values.shape[0]

    def column(self, name):
        """(N,) float64 values of the column ``name``."""
        if name not in self.columns:
            raise ValueError(f"MarketTable.column: expected one of {self.columns}, got {name!r}")
        return self.values[:, self.columns.index(name)]

    @property
    def q_values(self):
        """(N, 3) Q value of accumulate, distribute, hold at every row."""
        return self.values[:, -len(Q_COLUMNS):]


def solve_market(env, discretizer, gamma, solver="value_iteration", n_episodes=1000, seed=0):
    """Q-table (S, A) of the market ``env`` over the states of ``discretizer``.

    ``solver="value_iteration"``: the exact Q* of the discretized MDP (minidl.rl.mdp);
    ``solver="q_learning"``: learned from ``n_episodes`` episodes of experience, seeded by ``seed``.

    Raises:
        ValueError: for an unknown solver, or arguments the solver refuses.
    """
    checks.one_of(solver, SOLVERS, "solver", "solve_market")
    if solver == "value_iteration":
        return value_iteration(market_mdp(env, discretizer), gamma)[0]
    return q_learning(env, discretizer, n_episodes, gamma, alpha=1.0, alpha_decay=0.8,
                      epsilon_decay=0.995, epsilon_min=0.2, seed=seed).q


def simulate_table(env, q, discretizer, n_samples, seed, environment):
    """A MarketTable of ``n_samples`` states visited by playing ``env`` with uniformly random actions.

    Each row holds the observed price (and position), and ``q`` (S, A) at the observation's state.
    ``seed`` seeds the actions and the environment; ``environment`` names the table.

    Raises:
        TypeError: when ``n_samples`` is not an integer.
        ValueError: when it is below 1, or ``q`` has the wrong shape.
    """
    n_samples = checks.integer(n_samples, "n_samples", "simulate_table", low=1)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (discretizer.n_states, len(Action)):
        raise ValueError(f"simulate_table: expected a Q-table of shape "
                         f"({discretizer.n_states}, {len(Action)}), got {q.shape}")
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=int(rng.integers(2**32)))
    observations = []
    while len(observations) < n_samples:
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(int(rng.integers(len(Action))))
        if terminated or truncated:
            observation, _ = env.reset()
    observations = np.array(observations, dtype=np.float64)
    columns = ("price", "position")[:observations.shape[1]] + Q_COLUMNS
    return MarketTable(environment, columns, np.hstack([observations, q[discretizer(observations)]]))


def build_tables(environments=("normal", "sine", "inventory"), n_bins=50, gamma=0.9, n_samples=5000,
                 seed=0, solver="value_iteration", capacity=3):
    """Solve and simulate each named market (minidl.rl.markets.make_market): dict name -> MarketTable.

    ``n_bins`` price bins cover mean +- 3 sd of each market's prices; ``capacity`` is the inventory
    market's K. Markets get seeds seed, seed + 1, ... in order.
    """
    tables = {}
    for offset, name in enumerate(environments):
        env = make_market(name, capacity=capacity) if name == "inventory" else make_market(name)
        discretizer = Discretizer.for_env(env, n_bins)
        q = solve_market(env, discretizer, gamma, solver, seed=seed + offset)
        tables[name] = simulate_table(env, q, discretizer, n_samples, seed + offset, name)
    return tables


def save_table(table, path):
    """Write ``table`` to the CSV file ``path`` (header line of column names, then exact float64 rows).

    Written to a temporary file in the same folder, then moved into place: an interrupted write
    leaves the previous file, never half a file. Returns the path.
    """
    path = Path(path)
    header = ",".join(table.columns)
    write_atomically(path, lambda stream: np.savetxt(stream, table.values, fmt="%.17g", delimiter=",",
                                                     header=header, comments=""))
    return path


def load_table(path, environment=None):
    """Read a MarketTable written by :func:`save_table`; ``environment`` defaults to the file's stem."""
    path = Path(path)
    with open(path) as file:
        columns = tuple(file.readline().strip().split(","))
        try:
            values = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as error:
            raise ValueError(f"load_table: expected rows of {len(columns)} numbers in {path}, "
                             f"got {error}") from None
    if values.shape[1] != len(columns):
        raise ValueError(f"load_table: expected rows of {len(columns)} numbers in {path}, "
                         f"got {values.shape[1]}")
    return MarketTable(path.stem if environment is None else environment, columns, values)


def save_tables(tables, directory):
    """Save each MarketTable of the dict ``tables`` as ``directory/<name>.csv``: dict name -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {name: save_table(table, directory / f"{name}.csv") for name, table in tables.items()}


def merge_tables(tables, indicators=True):
    """One regression set from the MarketTables ``tables`` (a sequence, or a dict's values).

    X (N, F) float64 columns: price, position (0 in a market without inventory, which holds nothing),
    then, with ``indicators``, one 0/1 column ``is_<environment>`` per table. Y (N, 3) float64: the Q
    value of accumulate, distribute, hold. Rows keep the tables' order.

    Returns (X, Y, feature_names).
    """
    tables = list(tables.values()) if isinstance(tables, dict) else list(tables)
    if not tables:
        raise ValueError("merge_tables: expected at least one MarketTable, got none")
    names = [table.environment for table in tables]
    if len(set(names)) != len(names):
        raise ValueError(f"merge_tables: expected tables of distinct environments, got {names}")
    features = []
    for k, table in enumerate(tables):
        position = table.column("position") if "position" in table.columns else np.zeros(len(table))
        columns = [table.column("price"), position]
        if indicators:
            columns += [np.full(len(table), float(j == k)) for j in range(len(tables))]
        features.append(np.column_stack(columns))
    feature_names = ("price", "position") + (tuple(f"is_{name}" for name in names) if indicators else ())
    return (np.concatenate(features), np.concatenate([table.q_values for table in tables]), feature_names)
