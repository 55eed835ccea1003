"""Market episodes: time-bounded overlays that scenarios lay over the simulated price process.

An episode is pure: given the seconds elapsed since its start it returns a deterministic log-price
displacement and a set of :class:`Effects`. The simulator integrates the displacement step by step (so the
same episode gives the same move whatever the step size) and reads the effects for volatility, liquidity,
spreads, the implied-volatility surface and the two feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import ClassVar, Literal

StaleClock = Literal["advance", "freeze"]


@dataclass(frozen=True)
class Effects:
    """What active episodes do to one underlying at one instant; the neutral value changes nothing.

    Attributes
    ----------
    vol_multiplier : float
        Factor on the regime's realized volatility.
    implied_vol_target : float
        Short-end ATM implied volatility that the surface is pulled towards, annualized.
    implied_vol_weight : float
        0 to 1: how far the short end is pulled from the regime's level to ``implied_vol_target``.
    liquidity : float
        0 to 1: factor on top-of-book depth and dealer appetite (0 means they have vanished).
    spread_multiplier : float
        Factor on the half spread.
    stale_feeds : frozenset of str
        Feed ids whose prices stop updating.
    stale_clock : {'advance', 'freeze'}
        Whether a stale feed's timestamps keep advancing or stop too.
    corrupt_feeds : frozenset of str
        Feed ids that publish corrupted books.
    corrupt_probability : float
        Chance that one message of a corrupt feed is corrupted.
    corrupt_outlier_size : float
        Relative size of an outlier, fraction of mid.
    spoof_bid_size, spoof_ask_size : float
        Coins of spoof orders resting at the top of book (shown, never filled).
    phantom_feeds : frozenset of str
        Feed ids that show orders the market does not have (a fault of the feed, not of the venue).
    phantom_bid_size, phantom_ask_size : float
        Coins of those phantom orders at the top of book, on the phantom feeds only.
    """

    vol_multiplier: float = 1.0
    implied_vol_target: float = 0.0
    implied_vol_weight: float = 0.0
    liquidity: float = 1.0
    spread_multiplier: float = 1.0
    stale_feeds: frozenset[str] = field(default_factory=frozenset)
    stale_clock: StaleClock = "advance"
    corrupt_feeds: frozenset[str] = field(default_factory=frozenset)
    corrupt_probability: float = 0.0
    corrupt_outlier_size: float = 0.0
    spoof_bid_size: float = 0.0
    spoof_ask_size: float = 0.0
    phantom_feeds: frozenset[str] = field(default_factory=frozenset)
    phantom_bid_size: float = 0.0
    phantom_ask_size: float = 0.0

    def combine(self, other: Effects) -> Effects:
        """Both sets of effects at once: multipliers multiply, liquidity takes the scarcer, flags unite."""
        stronger_iv = self if self.implied_vol_weight >= other.implied_vol_weight else other
        return Effects(
            vol_multiplier=self.vol_multiplier * other.vol_multiplier,
            implied_vol_target=stronger_iv.implied_vol_target,
            implied_vol_weight=stronger_iv.implied_vol_weight,
            liquidity=min(self.liquidity, other.liquidity),
            spread_multiplier=self.spread_multiplier * other.spread_multiplier,
            stale_feeds=self.stale_feeds | other.stale_feeds,
            stale_clock="freeze" if "freeze" in (self.stale_clock, other.stale_clock) else "advance",
            corrupt_feeds=self.corrupt_feeds | other.corrupt_feeds,
            corrupt_probability=max(self.corrupt_probability, other.corrupt_probability),
            corrupt_outlier_size=max(self.corrupt_outlier_size, other.corrupt_outlier_size),
            spoof_bid_size=self.spoof_bid_size + other.spoof_bid_size,
            spoof_ask_size=self.spoof_ask_size + other.spoof_ask_size,
            phantom_feeds=self.phantom_feeds | other.phantom_feeds,
            phantom_bid_size=self.phantom_bid_size + other.phantom_bid_size,
            phantom_ask_size=self.phantom_ask_size + other.phantom_ask_size,
        )


NEUTRAL = Effects()


def trapezoid(elapsed_s: float, *, rise_s: float, hold_until_s: float, fall_s: float) -> float:
    """0 → 1 linearly over ``rise_s``, 1 until ``hold_until_s``, back to 0 over ``fall_s``; 0 outside."""
    if elapsed_s <= 0:
        return 0.0
    if elapsed_s < rise_s:
        return elapsed_s / rise_s
    if elapsed_s <= hold_until_s:
        return 1.0
    return max(0.0, 1.0 - (elapsed_s - hold_until_s) / fall_s)


@dataclass(frozen=True)
class Episode:
    """Base class: an overlay on ``underlying`` from ``start`` for ``duration_s`` seconds.

    Subclasses override :meth:`log_offset` (a cumulative, deterministic move of the log mid that stays once
    reached) and :meth:`effects_at` (effects while the episode is active).
    """

    name: ClassVar[str] = "episode"
    underlying: str
    start: datetime
    duration_s: float = 3_600.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("episode start must be timezone-aware (UTC)")
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")

    @property
    def end(self) -> datetime:
        """When the episode's effects stop (its price displacement stays)."""
        return self.start + timedelta(seconds=self.duration_s)

    def elapsed(self, at: datetime) -> float:
        """Seconds since the start at ``at`` (negative before it)."""
        return (at - self.start).total_seconds()

    def active(self, at: datetime) -> bool:
        """Whether ``at`` lies within [start, end)."""
        return 0.0 <= self.elapsed(at) < self.duration_s

    def log_offset(self, elapsed_s: float) -> float:
        """Cumulative log-price displacement ``elapsed_s`` seconds in; 0 for episodes that do not move it."""
        return 0.0

    def effects_at(self, elapsed_s: float) -> Effects:
        """Effects ``elapsed_s`` seconds in, for ``0 <= elapsed_s < duration_s``."""
        return NEUTRAL

    def effects(self, at: datetime) -> Effects:
        """Effects at wall time ``at``; neutral outside the episode."""
        elapsed = self.elapsed(at)
        return self.effects_at(elapsed) if 0.0 <= elapsed < self.duration_s else NEUTRAL

    def shifted(self, start: datetime) -> Episode:
        """The same episode starting at ``start``."""
        return replace(self, start=start)
