"""Reinforcement learning on the OneNow markets ([Dworakowski 2019, sections 3.2, 4.3.2, 5.4]; docs/onenow.md).

- :mod:`minidl.rl.markets`: the price processes and Gymnasium market environments;
- :mod:`minidl.rl.discretize`: price bins and observation -> state index for Q-tables;
- :mod:`minidl.rl.mdp`: the exactly known discretized MDP of a market with i.i.d. prices;
- :mod:`minidl.rl.tabular`: Q-learning, value iteration, policy evaluation;
- :mod:`minidl.rl.evaluation`: policies on held-out price paths, baselines, plots;
- :mod:`minidl.rl.deep_q`: deep-Q regression of the Q-table and fitted Q-iteration with a target network;
- :mod:`minidl.rl.series`: real price series (CSV columns, gym-anytrading's GOOGL and EUR/USD) as markets,
  split by time with no look-ahead;
- :mod:`minidl.rl.real_prices`: the pipeline on a real series, judged on a later period it never saw;
- :mod:`minidl.rl.registration`: the markets as Gymnasium IDs (``minidl/OneNowNormal-v0`` ...),
  registered on import of this package.

The tabular part is pure NumPy on the host; deep_q trains minidl networks.
"""
from minidl.rl.deep_q import (FittedQIteration, QNetwork, QRegression, Transitions, fitted_q_iteration,
                              output_layer, q_network, regress_q, sample_transitions,
                              stochasticity_batch_size)
from minidl.rl.discretize import Discretizer, PriceGrid
from minidl.rl.evaluation import (Rollout, Score, baselines, evaluate, greedy_policy, held_out_paths,
                                  hold_policy, plot_rollout, random_policy, rollout)
from minidl.rl.markets import (Action, InventoryMarketEnv, MarketEnv, NormalPrices, SinePrices,
                               make_market)
from minidl.rl.mdp import MarketMDP, bin_statistics, market_mdp
from minidl.rl.registration import register_markets
from minidl.rl.series import (MarketSignals, Periods, PriceSeries, SeriesMarketEnv, make_series_market,
                              market_signals, reward_table)
from minidl.rl.tabular import (QLearningResult, bellman_residual, greedy, policy_evaluation, q_learning,
                               q_update, value_iteration)

__all__ = [
    "Action", "Discretizer", "InventoryMarketEnv", "MarketEnv", "MarketMDP", "NormalPrices", "PriceGrid",
    "QLearningResult", "Rollout", "Score", "SinePrices", "baselines", "bellman_residual", "bin_statistics",
    "evaluate", "greedy", "greedy_policy", "held_out_paths", "hold_policy", "make_market", "market_mdp",
    "plot_rollout", "policy_evaluation", "q_learning", "q_update", "random_policy", "rollout",
    "value_iteration", "FittedQIteration", "QNetwork", "QRegression", "Transitions", "fitted_q_iteration",
    "output_layer", "q_network", "regress_q", "sample_transitions", "stochasticity_batch_size",
    "MarketSignals", "Periods", "PriceSeries", "SeriesMarketEnv", "make_series_market", "market_signals",
    "register_markets", "reward_table",
]

register_markets()
