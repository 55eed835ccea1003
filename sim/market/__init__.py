"""The simulated market: a seeded, replayable world for the desk to trade against.

Pure Python and numpy (no ORM). Start with :class:`MarketSimulator`; lay named scenarios over it with
:func:`scenario_start` or replay one end to end with :func:`scenario_run`; publish its books on two signed
redundant feeds with :class:`MarketFeed` and check them with :func:`feed_verify`. It builds on the desk's
reference data, impact model, volatility surface, volume profile and feed protocol (:mod:`desk.market`,
:mod:`desk.impact`, :mod:`desk.pricing`, :mod:`desk.volume`, :mod:`risk.feed`), whose names it re-exports.
"""

from desk.impact import ImpactConfig, ImpactForm, impact_fractions, impact_shape
from desk.pricing import VolSurfaceConfig, atm_vol, surface_vol
from desk.volume import volume_density, volume_profile
from risk.feed import FEED_IDS, canonical_json, feed_sign, feed_verify
from sim.market.config import MarketConfig, UnderlyingConfig, btc_config, eth_config, underlying_simulated
from sim.market.episodes import NEUTRAL, Effects, Episode
from sim.market.feed import MarketFeed
from sim.market.quotes import BookTop, ExecutionResult, OptionQuote, PerpetualQuote, Side
from sim.market.regimes import regime_generator, transition_cumulative
from sim.market.scenarios import (
    SCENARIOS,
    CorruptFeed,
    FlashCrash,
    LiquidityWithdrawal,
    Scenario,
    ScenarioRun,
    Spoofing,
    StaleFeed,
    VolSpike,
    scenario_episode,
    scenario_run,
    scenario_start,
)
from sim.market.simulator import MarketSimulator

__all__ = [
    "FEED_IDS",
    "NEUTRAL",
    "SCENARIOS",
    "BookTop",
    "CorruptFeed",
    "Effects",
    "Episode",
    "ExecutionResult",
    "FlashCrash",
    "ImpactConfig",
    "ImpactForm",
    "LiquidityWithdrawal",
    "MarketConfig",
    "MarketFeed",
    "MarketSimulator",
    "OptionQuote",
    "PerpetualQuote",
    "Scenario",
    "ScenarioRun",
    "Side",
    "Spoofing",
    "StaleFeed",
    "UnderlyingConfig",
    "VolSpike",
    "VolSurfaceConfig",
    "atm_vol",
    "btc_config",
    "canonical_json",
    "eth_config",
    "feed_sign",
    "feed_verify",
    "impact_fractions",
    "impact_shape",
    "regime_generator",
    "scenario_episode",
    "scenario_run",
    "scenario_start",
    "surface_vol",
    "transition_cumulative",
    "underlying_simulated",
    "volume_density",
    "volume_profile",
]
