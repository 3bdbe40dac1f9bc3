"""The OneNow markets under Gymnasium IDs, registered when :mod:`minidl.rl` is imported.

==============================  ==========================================================  ==========
ID                              environment                                                 episode
==============================  ==========================================================  ==========
``minidl/OneNowNormal-v0``      MarketEnv on i.i.d. N(3, 2^2) prices [Dworakowski 2019,      100 steps
                                section 3.2]
``minidl/OneNowSine-v0``        MarketEnv on the shuffled sine 3 + 2 sin(2 pi t / 20 000)    100 steps
``minidl/OneNowInventory-v0``   InventoryMarketEnv on N(3, 2^2) prices                       100 steps
``minidl/OneNowPrices-v0``      SeriesMarketEnv on a real series, given as ``series=``        100 steps
==============================  ==========================================================  ==========

Gymnasium 1.x loads no plugins by itself, so the IDs exist once ``minidl.rl`` is imported; without an
explicit import, name the module in the ID and Gymnasium imports it::

    env = gymnasium.make("minidl.rl:minidl/OneNowNormal-v0")
    env = gymnasium.make("minidl.rl:minidl/OneNowPrices-v0", series="googl")

The episode length is the spec's ``max_episode_steps`` and the environment's ``episode_length`` alike;
to change it pass both (``gymnasium.make(ID, max_episode_steps=50, episode_length=50)``). The
wrappers Gymnasium adds (order enforcing, the passive checker, the time limit) change nothing the
environment does: the same seed and actions give the same trajectory as the bare environment.
"""
import gymnasium

from minidl.rl.markets import DEFAULT_EPISODE_LENGTH

NAMESPACE = "minidl"

# ID -> (entry point, keyword arguments)
MARKETS = {
    f"{NAMESPACE}/OneNowNormal-v0": ("minidl.rl.markets:make_market", {"name": "normal"}),
    f"{NAMESPACE}/OneNowSine-v0": ("minidl.rl.markets:make_market", {"name": "sine"}),
    f"{NAMESPACE}/OneNowInventory-v0": ("minidl.rl.markets:make_market", {"name": "inventory"}),
    f"{NAMESPACE}/OneNowPrices-v0": ("minidl.rl.series:make_series_market", {}),
}


def register_markets():
    """Register every ID of :data:`MARKETS` that Gymnasium does not know yet (idempotent)."""
    for env_id, (entry_point, kwargs) in MARKETS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, max_episode_steps=DEFAULT_EPISODE_LENGTH,
                               kwargs=dict(kwargs, episode_length=DEFAULT_EPISODE_LENGTH))
