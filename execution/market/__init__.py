"""The simulated market: a seeded, replayable world for the desk to trade against.

Pure Python and numpy (no ORM). Start with :class:`MarketSimulator`; lay named scenarios over it with
:func:`scenario_start` or replay one end to end with :func:`scenario_run`; publish its books on two signed
redundant feeds with :class:`MarketFeed` and check them with :func:`feed_verify`.
"""

from execution.market.config import (
    ImpactConfig,
    ImpactForm,
    MarketConfig,
    UnderlyingConfig,
    VolSurfaceConfig,
    btc_config,
    eth_config,
)
from execution.market.episodes import NEUTRAL, Effects, Episode
from execution.market.feed import FEED_IDS, MarketFeed, canonical_json, feed_sign, feed_verify
from execution.market.impact import impact_fractions, impact_shape
from execution.market.profile import volume_density, volume_profile
from execution.market.quotes import BookTop, ExecutionResult, OptionQuote, PerpetualQuote, Side
from execution.market.regimes import regime_generator, transition_cumulative
from execution.market.scenarios import (
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
from execution.market.simulator import MarketSimulator
from execution.market.surface import atm_vol, surface_vol

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
    "volume_density",
    "volume_profile",
]
