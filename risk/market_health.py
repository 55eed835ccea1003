"""Market-data validation and the per-underlying health state, independent of the algorithms. Pure: no ORM.

:class:`FeedMonitor` takes the redundant feeds' messages (see :mod:`risk.feed`) with a clock, one at a time
(:meth:`~FeedMonitor.observe`) or a published round at a time (:meth:`~FeedMonitor.observe_many`), and answers what
it found (:class:`Finding`) and which underlyings changed state (:class:`Transition`). It reads the feeds and nothing
else: no order, plan or position of the desk.

**Data checks**, in the order a message meets them, decide which feeds are trusted:

1. integrity: a bad HMAC discards the message (its ``feed`` and ``symbol`` are then only claims);
2. form: missing, non-numeric, non-finite or non-positive prices (negative sizes, a partial order book) discard the
   message;
3. sequence, per feed: a duplicate or out-of-order number discards the message, a gap is reported and the
   message used (it is as fresh as any; what was lost is older);
4. book: a crossed book (bid > ask) is rejected, a locked one (bid = ask) reported (rejected if the thresholds say
   so);
5. staleness: bid and ask unchanged while the message timestamps advance by ``stale_after_s``, or timestamps that
   have not advanced for ``stale_after_s`` on the monitor's clock, or no message at all for that long;
6. plausibility: a jump of the mid against the robust median of the feed's own recent accepted mids beyond
   ``outlier_k`` × its robust volatility (and at least ``outlier_floor_bps``), judged together with the other
   feed's contemporaneous mid (divergence beyond ``divergence_bps``).

The rule that tells a real move from a bad print: **a jump is real when the other feed shows it too.** A jumping
mid is only *suspect* until the other feed's message of the same moment (timestamps within ``pair_tolerance_s``)
arrives: if the two agree within ``divergence_bps`` the move is confirmed and both prices are accepted, however
far and fast the market went; if they disagree, the feed that jumped against its own history is the bad one; if
neither (or both) jumped, nobody can tell which is right and both are distrusted. With no other feed to ask (it
is down), a jump is accepted only after ``confirm_messages`` consecutive consistent prints at the new level;
until then the underlying has no trustworthy price.

**Market checks** judge the market the trusted feeds show, once its data is good:

7. fast move (``fast_move``): the validated mid moved more than ``fast_move_bps`` within ``fast_move_window_s``
   (a flash crash); the band a circuit breaker keeps;
8. volatility (``volatility``): the realized volatility of the last ``volatility_window_s`` (returns over
   ``volatility_sample_s``, uncentred, so a steady sell-off counts, and a median, so one jump does not) at least
   ``volatility_ratio`` times that of the ``volatility_baseline_s`` before it;
9. liquidity (``liquidity``): over the last ``liquidity_window_s``, the spread at least ``liquidity_spread_ratio``
   times its baseline, or the depth at the best levels at most ``liquidity_depth_ratio`` of it;
10. spoofing (``spoofing``), on feeds that carry the order book: on one side, orders of ``spoof_size_multiple``
    times the side's usual depth that make the book lopsided (imbalance at least ``spoof_imbalance``) and are
    pulled within ``spoof_life_s``, mostly cancelled rather than traded, ``spoof_cycles`` times within
    ``spoof_window_s``. **The other feed confirms or contradicts**: a pattern the other trusted feed shows too (its
    own pulled orders overlapping in time) is the market's; one it does not show, once it has published past the
    pattern, is a fault of the first feed and is reported, not acted on; with no other feed able to witness (down,
    or without the order book), the one feed's pattern stands.

Each market check fires at its threshold and clears only below a laxer one (``*_clear*``): hysteresis, so that a
figure hovering at the threshold does not flap. The market checks need ``volatility_min_baseline`` sampled points
of history (some five minutes) before they judge anything.

**Hysteresis on the feeds**: every failure adds one to the feed's penalty, which halves every
``damping_half_life_s`` (capped at ``max_penalty``); a feed that failed is trusted again only after
``recovery_messages`` consecutive clean messages *and* once its penalty has decayed to ``reuse_penalty``. A single
bad print keeps a feed out for two half-lives; an intermittently corrupt feed, whose penalty keeps being topped up,
stays out until it has been clean for up to five, rather than flapping in and out (route-flap damping, RFC 2439).

**State per underlying**: ``healthy`` (every feed trusted, no market check firing), ``degraded`` (trade with care:
some feed untrusted and the price comes from a trusted one, or the market abnormal: volatility, liquidity,
spoofing) or ``halted`` (no trading: no feed trusted and so no price, or a check of ``halting_checks`` firing, by
default the fast move; this is what trips the circuit breaker). A worse state is taken at once; a better one only
after ``min_state_s`` in the current state. The validated price is the mid of the first trusted feed in the
monitor's feed order (A before B): one source, never a blend, so that every price can be traced to a message; it
is None only when no feed is trusted.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeGuard

from risk.feed import BOOK_FIELDS, FEED_IDS, FLOW_FIELDS, feed_verify

__all__ = [
    "MARKET_CHECKS",
    "Check",
    "FeedMonitor",
    "Finding",
    "Health",
    "HealthThresholds",
    "Observation",
    "Severity",
    "SymbolHealth",
    "Transition",
    "robust_volatility",
]

BPS = 1e4
# 1 / Φ⁻¹(3/4): scales a median absolute deviation to a standard deviation for normal returns (and the median of
# |r| to σ when the returns are centred on zero).
MAD_TO_SIGMA = 1.4826
SECONDS_PER_YEAR = 365.0 * 86_400.0


class Health(StrEnum):
    """The state of one underlying's market data (see the module: healthy < degraded < halted)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    HALTED = "halted"


_RANK = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.HALTED: 2}


class Check(StrEnum):
    """The check that produced a finding."""

    HMAC = "hmac"
    MALFORMED = "malformed"
    SEQUENCE_GAP = "sequence_gap"
    SEQUENCE_DUPLICATE = "sequence_duplicate"
    CROSSED = "crossed"
    LOCKED = "locked"
    STALE = "stale"
    OUTLIER = "outlier"
    DIVERGENCE = "divergence"
    FAST_MOVE = "fast_move"
    VOLATILITY = "volatility"
    LIQUIDITY = "liquidity"
    SPOOFING = "spoofing"


# The checks that judge the market the trusted feeds show (the others judge the feeds themselves).
MARKET_CHECKS = frozenset({Check.FAST_MOVE, Check.VOLATILITY, Check.LIQUIDITY, Check.SPOOFING})


class Severity(StrEnum):
    """``warning``: reported, the feed is still trusted (a market check that degrades); ``error``: the feed (or
    message) is not trusted, or a market check that halts."""

    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class HealthThresholds:
    """The monitor's thresholds, with their units.

    Attributes
    ----------
    stale_after_s : float
        Seconds: prices unchanged while timestamps advance, timestamps frozen on the monitor's clock, or silence,
        for at least this long make a feed stale.
    divergence_bps : float
        Basis points of the mean of the two mids: feeds further apart than this disagree.
    outlier_k : float
        Multiple of the feed's robust per-message volatility beyond which a mid is a jump.
    outlier_floor_bps : float
        Basis points: the jump band is never narrower than this (a calm window would otherwise flag noise).
    median_messages : int
        Messages in the robust median a new mid is compared with (short: a trend must not look like a jump).
    volatility_messages : int
        Messages whose returns give the robust volatility.
    min_history : int
        Accepted messages a feed needs before its own-history jump check applies.
    pair_tolerance_s : float
        Seconds between the two feeds' timestamps for one to witness the other (keep it below the publication
        interval, 0.5 s on the desk, so that a witness is of the same moment); also how long (on the monitor's
        clock) a suspect jump waits for its witness before the underlying's state is re-evaluated without it.
    confirm_messages : int
        Consecutive consistent prints that confirm a jump no other feed can witness.
    recovery_messages : int
        Consecutive clean messages before a feed that failed a check is trusted again.
    reject_locked : bool
        Whether a locked book (bid = ask) is rejected like a crossed one, or only reported.
    damping_half_life_s : float
        Seconds: a feed's failure penalty (one per failure) halves in this time (0: no damping).
    reuse_penalty : float
        A failed feed is trusted again only once its penalty has decayed to this (one failure: two half-lives).
    max_penalty : float
        The penalty's cap: the longest a feed stays out after its last failure is
        ``damping_half_life_s × log2(max_penalty / reuse_penalty)``.
    min_state_s : float
        Seconds an underlying stays in a state before it may move to a better one (a worse one is taken at once).
    fast_move_window_s, fast_move_bps, fast_move_clear_bps : float
        The fast-move check fires when the validated mid moved ``fast_move_bps`` (basis points, log) within
        ``fast_move_window_s`` seconds of feed time, and clears below ``fast_move_clear_bps``.
    volatility_sample_s : float
        Seconds of feed time between the sampled prices whose returns give the realized volatility (and the
        liquidity baseline); a return over a longer gap is scaled to this interval.
    volatility_window_s, volatility_baseline_s : float
        Seconds: the recent window judged, and the baseline before it that it is judged against.
    volatility_min_baseline : int
        Sampled points the baseline needs before the volatility and liquidity checks judge anything.
    volatility_ratio, volatility_clear_ratio : float
        The volatility check fires when the recent realized volatility is this multiple of the baseline's, and
        clears below the second.
    volatility_floor : float
        Annualized volatility (0.10 is 10 %) below which the baseline is not taken (a dead-calm baseline would make
        ordinary noise look like a spike).
    liquidity_window_s : float
        Seconds of feed time whose median spread and depth are compared with the baseline's.
    liquidity_spread_ratio, liquidity_spread_clear : float
        The liquidity check fires at a spread this multiple of the baseline's, and clears below the second.
    liquidity_depth_ratio, liquidity_depth_clear : float
        It fires at a depth at the best levels (the thinner side) this fraction of the baseline's, and clears above
        the second.
    spoof_size_multiple : float
        A side's depth at least this multiple of its usual (median) depth is a candidate spoof order.
    spoof_imbalance : float
        Order-book imbalance ``(this side − other side) / (both sides)`` of depth, 0 to 1, the candidate must make.
    spoof_cancel_fraction : float
        Fraction of the candidate's size that must leave as cancellations (the rest at most as trades) for it to
        count as pulled.
    spoof_life_s : float
        Seconds: a candidate resting longer than this is a genuine order, not a spoof.
    spoof_cycles : int
        Pulled orders on one side within ``spoof_window_s`` seconds that make the spoofing pattern.
    spoof_window_s : float
        Seconds of feed time the pattern is looked for in (and how long it fires after the last pulled order).
    spoof_min_history : int
        Messages of a side's depth needed before its usual depth is known.
    halting_checks : frozenset of Check
        The market checks that halt the underlying (trip the breaker) rather than degrade it.
    """

    stale_after_s: float = 5.0
    divergence_bps: float = 25.0
    outlier_k: float = 10.0
    outlier_floor_bps: float = 25.0
    median_messages: int = 5
    volatility_messages: int = 30
    min_history: int = 5
    pair_tolerance_s: float = 0.25
    confirm_messages: int = 3
    recovery_messages: int = 5
    reject_locked: bool = False
    damping_half_life_s: float = 30.0
    reuse_penalty: float = 0.25
    max_penalty: float = 8.0
    min_state_s: float = 30.0
    fast_move_window_s: float = 60.0
    fast_move_bps: float = 200.0
    fast_move_clear_bps: float = 100.0
    volatility_sample_s: float = 10.0
    volatility_window_s: float = 120.0
    volatility_baseline_s: float = 1_800.0
    volatility_min_baseline: int = 30
    volatility_ratio: float = 3.0
    volatility_clear_ratio: float = 2.0
    volatility_floor: float = 0.10
    liquidity_window_s: float = 30.0
    liquidity_spread_ratio: float = 3.0
    liquidity_spread_clear: float = 2.0
    liquidity_depth_ratio: float = 0.25
    liquidity_depth_clear: float = 0.4
    spoof_size_multiple: float = 5.0
    spoof_imbalance: float = 0.6
    spoof_cancel_fraction: float = 0.8
    spoof_life_s: float = 60.0
    spoof_cycles: int = 2
    spoof_window_s: float = 120.0
    spoof_min_history: int = 20
    halting_checks: frozenset[Check] = frozenset({Check.FAST_MOVE})

    def __post_init__(self) -> None:
        for name in (
            "stale_after_s",
            "divergence_bps",
            "outlier_k",
            "outlier_floor_bps",
            "pair_tolerance_s",
            "damping_half_life_s",
            "reuse_penalty",
            "min_state_s",
            "fast_move_clear_bps",
            "volatility_floor",
            "liquidity_depth_ratio",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number at least 0, not {value!r}")
        for name in (
            "max_penalty",
            "fast_move_window_s",
            "fast_move_bps",
            "volatility_sample_s",
            "volatility_window_s",
            "volatility_baseline_s",
            "volatility_ratio",
            "volatility_clear_ratio",
            "liquidity_window_s",
            "liquidity_spread_ratio",
            "liquidity_spread_clear",
            "liquidity_depth_clear",
            "spoof_size_multiple",
            "spoof_life_s",
            "spoof_window_s",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number above 0, not {value!r}")
        for name in (
            "median_messages",
            "volatility_messages",
            "min_history",
            "confirm_messages",
            "volatility_min_baseline",
            "spoof_cycles",
            "spoof_min_history",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.recovery_messages < 0:
            raise ValueError("recovery_messages must be at least 0")
        if self.volatility_messages < 3:
            raise ValueError("volatility_messages must be at least 3 (two returns make no spread)")
        if not 0 <= self.spoof_imbalance <= 1 or not 0 < self.spoof_cancel_fraction <= 1:
            raise ValueError("spoof_imbalance must be in 0..1 and spoof_cancel_fraction in (0, 1]")
        # Hysteresis: a check clears on the far side of where it fires, never in between.
        if self.fast_move_clear_bps > self.fast_move_bps:
            raise ValueError("fast_move_clear_bps must not exceed fast_move_bps")
        if self.volatility_clear_ratio > self.volatility_ratio:
            raise ValueError("volatility_clear_ratio must not exceed volatility_ratio")
        if self.liquidity_spread_clear > self.liquidity_spread_ratio:
            raise ValueError("liquidity_spread_clear must not exceed liquidity_spread_ratio")
        if self.liquidity_depth_clear < self.liquidity_depth_ratio:
            raise ValueError("liquidity_depth_clear must not be below liquidity_depth_ratio")
        if self.reuse_penalty >= self.max_penalty:
            raise ValueError("reuse_penalty must be below max_penalty")
        if not self.halting_checks <= MARKET_CHECKS:
            raise ValueError(f"halting_checks must be market checks ({', '.join(sorted(MARKET_CHECKS))})")


@dataclass(frozen=True)
class Finding:
    """One result of one check: which check, on which underlying and feed, how bad, and the figures.

    ``figures`` carries the observed values and the threshold in the units named by their keys (``..._bps``,
    ``..._s``); ``at`` is the monitor's clock when the message was judged.
    """

    check: Check
    symbol: str
    feed: str
    severity: Severity
    message: str
    at: datetime
    figures: Mapping[str, float | int | str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": str(self.check),
            "symbol": self.symbol,
            "feed": self.feed,
            "severity": str(self.severity),
            "message": self.message,
            "at": self.at.isoformat(),
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class SymbolHealth:
    """The health of one underlying: its state, the validated price (None when halted) and where it comes from.

    ``reasons`` are the findings behind the state: those that keep the untrusted feeds out, and the market checks
    firing (empty when healthy; while a better state waits out ``min_state_s``, those of the state held).
    ``checks`` names their checks; ``since`` is the monitor's clock at the last change of state. ``price`` is None
    only when no feed is trusted (a halt by a market check keeps the price: it is the market's, just not one to
    trade at).
    """

    symbol: str
    state: Health
    price: float | None
    source_feed: str | None
    trusted_feeds: tuple[str, ...]
    reasons: tuple[Finding, ...]
    since: datetime

    @property
    def reason(self) -> str:
        """The reasons in one line, e.g. for the circuit breaker's audit record."""
        return "; ".join(finding.message for finding in self.reasons) or str(self.state)

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks behind the state, in the order of its reasons, each once."""
        return tuple(dict.fromkeys(str(finding.check) for finding in self.reasons))

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "state": str(self.state),
            "checks": list(self.checks),
            "price": self.price,
            "source_feed": self.source_feed,
            "trusted_feeds": list(self.trusted_feeds),
            "reasons": [finding.as_dict() for finding in self.reasons],
            "reason": self.reason,
            "since": self.since.isoformat(),
        }


@dataclass(frozen=True)
class Transition:
    """An underlying's change of state (``previous`` is None on its first evaluation)."""

    previous: Health | None
    current: SymbolHealth


@dataclass(frozen=True)
class Observation:
    """What one call of :meth:`FeedMonitor.observe`, :meth:`FeedMonitor.observe_many` or :meth:`FeedMonitor.tick`
    found and changed; ``accepted``: whether every message's price was accepted (False for a tick)."""

    findings: tuple[Finding, ...] = ()
    transitions: tuple[Transition, ...] = ()
    accepted: bool = False


def robust_volatility(log_prices: Sequence[float]) -> float:
    """Robust standard deviation of successive log returns: 1.4826 × the median absolute deviation.

    Parameters
    ----------
    log_prices : sequence of float
        Natural logs of consecutive prices, oldest first.

    Returns
    -------
    float
        Per-message volatility as a fraction (0.0003 is 3 bps); 0.0 with fewer than three prices.
    """
    if len(log_prices) < 3:
        return 0.0
    returns = [b - a for a, b in zip(log_prices, log_prices[1:], strict=False)]
    centre = statistics.median(returns)
    return MAD_TO_SIGMA * statistics.median(abs(r - centre) for r in returns)


def _bps(a: float, b: float) -> float:
    """|a − b| in basis points of their mean."""
    return abs(a - b) / ((a + b) / 2.0) * BPS


SIDES = ("bid", "ask")


@dataclass(frozen=True)
class _Book:
    """The optional order-book fields of a message (coins): depth per side, and the flow since the last message."""

    depth: dict[str, float]
    added: dict[str, float]
    cancelled: dict[str, float]
    traded: float


@dataclass
class _Quote:
    ts: datetime
    bid: float
    ask: float
    mid: float
    bid_size: float | None = None
    ask_size: float | None = None
    book: _Book | None = None


@dataclass(eq=False)
class _Wall:
    """A candidate spoof order: one side's depth far above its usual, from ``opened`` (feed time) on."""

    side: str
    opened: datetime
    base: float
    peak: float
    imbalance: float
    cancelled: float = 0.0
    traded: float = 0.0
    standing: bool = False
    closed: datetime | None = None


@dataclass(eq=False)
class _FeedState:
    """What the monitor knows of one feed for one underlying."""

    feed: str
    # Accepted log mids, newest last: the robust median and volatility come from these alone, so that a bad
    # print never becomes part of the yardstick it is judged by.
    history: deque[float]
    last: _Quote | None = None
    # The latest message that passed its own checks (a possible witness for the other feed), and its status.
    witness: _Quote | None = None
    last_seen: datetime | None = None
    price_changed_ts: datetime | None = None
    ts_advanced_at: datetime | None = None
    bad: Finding | None = None
    # Since the feed was last trusted: the latest failure of each check (the reasons it is out, stable in their
    # checks while an intermittent fault alternates between them).
    failures: dict[Check, Finding] = field(default_factory=dict)
    silent: bool = False
    clean_streak: int = 0
    suspect: list[float] = field(default_factory=list)
    suspect_since: datetime | None = None
    suspect_finding: Finding | None = None
    # Flap damping: the failure penalty as of ``penalty_at`` (the monitor's clock).
    penalty: float = 0.0
    penalty_at: datetime | None = None
    # The order book: whether the latest sane message carried it, each side's usual depth (messages without a
    # candidate spoof order), the candidate per side, and the candidates that were pulled.
    book_seen: bool = False
    depths: dict[str, deque[float]] = field(default_factory=dict)
    walls: dict[str, _Wall | None] = field(default_factory=dict)
    pulled: deque[_Wall] = field(default_factory=lambda: deque(maxlen=32))

    @property
    def is_suspect(self) -> bool:
        return bool(self.suspect)


@dataclass(frozen=True)
class _Point:
    """One validated quote of an underlying (feed time): log mid, spread in bps and the thinner side's best size."""

    ts: datetime
    log_mid: float
    spread_bps: float
    depth: float | None


@dataclass(eq=False)
class _SymbolState:
    symbol: str
    feeds: dict[str, _FeedState]
    first_seen: datetime
    health: SymbolHealth | None = None
    # Validated quotes: every one over the short windows, one per ``volatility_sample_s`` over the baseline.
    recent: deque[_Point] = field(default_factory=deque)
    samples: deque[_Point] = field(default_factory=deque)
    # The market checks firing, each with the finding it fired with.
    conditions: dict[Check, Finding] = field(default_factory=dict)
    # (feed, side) → the close time of the last pulled order already reported as contradicted.
    contradicted: dict[tuple[str, str], datetime] = field(default_factory=dict)


class FeedMonitor:
    """Validates the redundant feeds message by message and keeps each underlying's health and validated price.

    Parameters
    ----------
    key : bytes or str
        The feeds' HMAC key.
    thresholds : HealthThresholds
        The checks' thresholds.
    feeds : tuple of str
        The redundant feeds, in order of preference for the validated price.

    Not thread-safe: one caller at a time (the service holds a lock).
    """

    def __init__(
        self, key: bytes | str, *, thresholds: HealthThresholds | None = None, feeds: tuple[str, ...] = FEED_IDS
    ) -> None:
        if len(feeds) < 1 or len(set(feeds)) != len(feeds):
            raise ValueError("feeds must be non-empty and unique")
        self.key = key
        self.thresholds = thresholds or HealthThresholds()
        self.feeds = feeds
        self._seq: dict[str, int] = {}
        self._symbols: dict[str, _SymbolState] = {}

    # ----------------------------------------------------------------------------------------------- reading
    def health(self, symbol: str) -> SymbolHealth | None:
        """The latest health of ``symbol`` (None before its first evaluation)."""
        state = self._symbols.get(symbol)
        return state.health if state else None

    def snapshot(self) -> dict[str, SymbolHealth]:
        """The latest health of every evaluated underlying."""
        return {symbol: state.health for symbol, state in self._symbols.items() if state.health is not None}

    # ----------------------------------------------------------------------------------------------- writing
    def observe(self, message: Mapping[str, Any], *, now: datetime) -> Observation:
        """Judge one feed message received at ``now`` (UTC-aware, the monitor's clock), then every underlying.

        Returns
        -------
        Observation
            The findings (possibly on the other feed, when this message refutes its suspect jump), the state
            transitions, and whether the message's price was accepted.
        """
        findings: list[Finding] = []
        accepted = self._observe_one(message, now, findings)
        return self._observation(findings, now, accepted=accepted)

    def observe_many(self, messages: Iterable[Mapping[str, Any]], *, now: datetime) -> Observation:
        """Judge one published round (every underlying, every feed) received at ``now``, then every underlying once.

        The round is judged as a whole: one underlying's messages do not make another look silent because they
        came first (with rounds further apart than ``stale_after_s``, judging message by message would).
        """
        findings: list[Finding] = []
        accepted = [self._observe_one(message, now, findings) for message in messages]
        return self._observation(findings, now, accepted=bool(accepted) and all(accepted))

    def tick(self, *, now: datetime) -> Observation:
        """Re-evaluate every underlying at ``now`` without a message: silence makes feeds stale, and suspect jumps
        whose witness did not come in time are judged without it. Call it regularly (the service does)."""
        findings: list[Finding] = []
        return self._observation(findings, now)

    def _observe_one(self, message: Mapping[str, Any], now: datetime, findings: list[Finding]) -> bool:
        # Claims only, until the HMAC says otherwise: used to name what is discarded.
        claims: Mapping[str, Any] = message if isinstance(message, Mapping) else {}
        feed, symbol, seq = str(claims.get("feed", "?")), str(claims.get("symbol", "?")), claims.get("seq")
        if not feed_verify(message, self.key):
            findings.append(
                Finding(
                    Check.HMAC,
                    symbol,
                    feed,
                    Severity.ERROR,
                    f"{symbol} feed {feed}: bad HMAC, message seq {seq!r} discarded",
                    now,
                    {"seq": _printable(seq)},
                )
            )
            return False
        parsed = _parse(message, self.feeds)
        if isinstance(parsed, str):
            findings.append(
                Finding(
                    Check.MALFORMED, symbol, feed, Severity.ERROR, f"{symbol} feed {feed}: {parsed}; discarded", now
                )
            )
            return False
        seq, quote = parsed
        if not self._sequence_check(feed, symbol, seq, now, findings):
            return False
        state = self._symbol(symbol, now)
        return self._judge(state, state.feeds[feed], quote, now, findings)

    def _observation(self, findings: list[Finding], now: datetime, *, accepted: bool = False) -> Observation:
        # Evaluated first: the evaluation adds its own findings (silence) to the list.
        transitions = self._evaluate_all(now, findings)
        return Observation(tuple(findings), transitions, accepted)

    # ------------------------------------------------------------------------------------------------ checks
    def _symbol(self, symbol: str, now: datetime) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            t = self.thresholds
            history_len = max(t.volatility_messages, t.median_messages)
            depth_len = max(t.spoof_min_history, 60)
            state = _SymbolState(
                symbol=symbol,
                feeds={
                    feed: _FeedState(
                        feed,
                        deque(maxlen=history_len),
                        depths={side: deque(maxlen=depth_len) for side in SIDES},
                        walls=dict.fromkeys(SIDES),
                    )
                    for feed in self.feeds
                },
                first_seen=now,
            )
            self._symbols[symbol] = state
        return state

    def _sequence_check(self, feed: str, symbol: str, seq: int, now: datetime, findings: list[Finding]) -> bool:
        last = self._seq.get(feed)
        # A publisher restarting counts from 1 again: a new stream, not a replay.
        if last is None or seq == 1 or seq == last + 1:
            self._seq[feed] = seq
            return True
        if seq <= last:
            kind = "duplicate" if seq == last else "out of order"
            findings.append(
                Finding(
                    Check.SEQUENCE_DUPLICATE,
                    symbol,
                    feed,
                    Severity.WARNING,
                    f"{symbol} feed {feed}: seq {seq} {kind} (last {last}); discarded",
                    now,
                    {"seq": seq, "last_seq": last},
                )
            )
            return False
        findings.append(
            Finding(
                Check.SEQUENCE_GAP,
                symbol,
                feed,
                Severity.WARNING,
                f"{symbol} feed {feed}: seq gap, {seq - last - 1} message(s) missing between {last} and {seq}",
                now,
                {"seq": seq, "last_seq": last, "missing": seq - last - 1},
            )
        )
        self._seq[feed] = seq
        return True

    def _judge(
        self, state: _SymbolState, fs: _FeedState, quote: _Quote, now: datetime, findings: list[Finding]
    ) -> bool:
        t = self.thresholds
        symbol, feed = state.symbol, fs.feed
        previous = fs.last
        fs.last, fs.last_seen, fs.witness, fs.silent = quote, now, None, False
        if previous is None or (quote.bid, quote.ask) != (previous.bid, previous.ask):
            fs.price_changed_ts = quote.ts
        if previous is None or quote.ts > previous.ts:
            fs.ts_advanced_at = now

        if quote.bid > quote.ask:
            return self._reject(
                fs,
                Finding(
                    Check.CROSSED,
                    symbol,
                    feed,
                    Severity.ERROR,
                    f"{symbol} feed {feed}: crossed book, bid {quote.bid:.6g} > ask {quote.ask:.6g}",
                    now,
                    {"bid": quote.bid, "ask": quote.ask, "spread_bps": (quote.ask - quote.bid) / quote.mid * BPS},
                ),
                findings,
            )
        if quote.bid == quote.ask:
            locked = Finding(
                Check.LOCKED,
                symbol,
                feed,
                Severity.ERROR if t.reject_locked else Severity.WARNING,
                f"{symbol} feed {feed}: locked book, bid = ask = {quote.bid:.6g}",
                now,
                {"bid": quote.bid, "ask": quote.ask},
            )
            if t.reject_locked:
                return self._reject(fs, locked, findings)
            findings.append(locked)

        unchanged_s = (quote.ts - fs.price_changed_ts).total_seconds() if fs.price_changed_ts else 0.0
        frozen_s = (now - fs.ts_advanced_at).total_seconds() if fs.ts_advanced_at else 0.0
        if unchanged_s >= t.stale_after_s or frozen_s >= t.stale_after_s:
            what = (
                f"no price change for {unchanged_s:.1f} s of feed time"
                if unchanged_s >= t.stale_after_s
                else f"timestamp frozen at {quote.ts.isoformat()} for {frozen_s:.1f} s"
            )
            return self._reject(
                fs,
                Finding(
                    Check.STALE,
                    symbol,
                    feed,
                    Severity.ERROR,
                    f"{symbol} feed {feed}: stale, {what} (threshold {t.stale_after_s:g} s)",
                    now,
                    {"unchanged_s": unchanged_s, "frozen_s": frozen_s, "threshold_s": t.stale_after_s},
                ),
                findings,
            )
        # A sane, fresh book: what it shows of the order book is worth following, whatever its price turns out to be.
        self._book_track(fs, quote)

        log_mid = math.log(quote.mid)
        jump_bps, band_bps = self._jump(fs, log_mid)
        jumped = jump_bps is not None and jump_bps > band_bps
        witness = self._witness(state, fs, quote)
        if witness is not None:
            other, seen = witness
            divergence = _bps(quote.mid, seen.mid)
            if divergence <= t.divergence_bps:
                # Two independent feeds agree: whatever the move, it is the market's.
                if other.is_suspect:
                    self._accept_suspect(other, now, rebase=False)
                self._suspect_clear(fs)
                self._accept(fs, log_mid, now)
                return True
            if seen.ts >= quote.ts:
                # A witness of this very moment disagrees. (An older one that disagrees says nothing the move
                # itself would not: such a print is judged on its own history below.)
                return self._disagreement(state, fs, quote, log_mid, other, seen, divergence, jumped, now, findings)
        if not jumped:
            if fs.is_suspect:
                # Back at the old level: the suspect prints were bad ones.
                findings.append(
                    Finding(
                        Check.OUTLIER,
                        symbol,
                        feed,
                        Severity.ERROR,
                        f"{symbol} feed {feed}: {len(fs.suspect)} unconfirmed print(s) reverted; discarded",
                        now,
                        {"prints": len(fs.suspect), "mid": quote.mid},
                    )
                )
                self._suspect_clear(fs)
            self._accept(fs, log_mid, now)
            return True
        return self._suspect(fs, symbol, quote, log_mid, jump_bps or 0.0, band_bps, now, findings)

    def _disagreement(
        self,
        state: _SymbolState,
        fs: _FeedState,
        quote: _Quote,
        log_mid: float,
        other: _FeedState,
        seen: _Quote,
        divergence: float,
        jumped: bool,
        now: datetime,
        findings: list[Finding],
    ) -> bool:
        """Two contemporaneous feeds more than ``divergence_bps`` apart: blame the one that jumped."""
        t = self.thresholds
        symbol, feed = state.symbol, fs.feed
        jump_bps, band_bps = self._jump(fs, log_mid)
        if jumped and not other.is_suspect:
            figures = _pair_figures(quote.mid, other.feed, seen.mid, divergence, t.divergence_bps, jump_bps, band_bps)
            return self._reject(fs, self._outlier(symbol, feed, figures, now), findings)
        if not jumped and other.is_suspect:
            suspect = other.suspect_finding.figures if other.suspect_finding else {}
            figures = _pair_figures(
                seen.mid,
                feed,
                quote.mid,
                divergence,
                t.divergence_bps,
                suspect.get("jump_bps"),
                suspect.get("band_bps"),
            )
            self._reject(other, self._outlier(symbol, other.feed, figures, now), findings)
            self._accept(fs, log_mid, now)
            return True
        # Neither (or both) jumped: nothing tells which is right, so neither is trusted.
        divergence_finding = Finding(
            Check.DIVERGENCE,
            symbol,
            f"{other.feed}/{feed}",
            Severity.ERROR,
            f"{symbol} feeds {other.feed} and {feed} diverge by {divergence:.1f} bps "
            f"({seen.mid:.6g} vs {quote.mid:.6g}; threshold {t.divergence_bps:g} bps)",
            now,
            _pair_figures(quote.mid, other.feed, seen.mid, divergence, t.divergence_bps, jump_bps, band_bps),
        )
        self._reject(other, divergence_finding, [])
        return self._reject(fs, divergence_finding, findings)

    def _jump(self, fs: _FeedState, log_mid: float) -> tuple[float | None, float]:
        """The mid's distance to the robust median of the feed's accepted mids, and the band, both in bps."""
        t = self.thresholds
        history = list(fs.history)
        band_bps = max(t.outlier_k * robust_volatility(history[-t.volatility_messages :]) * BPS, t.outlier_floor_bps)
        if len(history) < t.min_history:
            return None, band_bps
        centre = statistics.median(history[-t.median_messages :])
        return abs(log_mid - centre) * BPS, band_bps

    def _witness(self, state: _SymbolState, fs: _FeedState, quote: _Quote) -> tuple[_FeedState, _Quote] | None:
        """Another feed, and its latest message that passed its own checks at (nearly) the same feed time."""
        tolerance = timedelta(seconds=self.thresholds.pair_tolerance_s)
        for other in state.feeds.values():
            seen = other.witness
            if other is not fs and seen is not None and abs(seen.ts - quote.ts) <= tolerance:
                return other, seen
        return None

    def _suspect(
        self,
        fs: _FeedState,
        symbol: str,
        quote: _Quote,
        log_mid: float,
        jump_bps: float,
        band_bps: float,
        now: datetime,
        findings: list[Finding],
    ) -> bool:
        t = self.thresholds
        consistent = not fs.suspect or abs(log_mid - fs.suspect[-1]) * BPS <= band_bps
        if not consistent:
            fs.suspect.clear()
        fs.suspect.append(log_mid)
        fs.witness = quote
        if fs.suspect_since is None or not consistent:
            fs.suspect_since = now
        finding = Finding(
            Check.OUTLIER,
            symbol,
            fs.feed,
            Severity.WARNING,
            f"{symbol} feed {fs.feed}: unconfirmed jump of {jump_bps:.1f} bps (band {band_bps:.1f} bps), "
            f"print {len(fs.suspect)} of {t.confirm_messages} at the new level",
            now,
            {"mid": quote.mid, "jump_bps": jump_bps, "band_bps": band_bps, "prints": len(fs.suspect)},
        )
        fs.suspect_finding = finding
        findings.append(finding)
        if len(fs.suspect) >= t.confirm_messages:
            # Persistent and self-consistent: a new level, even though no other feed could confirm it.
            self._accept_suspect(fs, now, rebase=True)
            return True
        return False

    def _accept_suspect(self, fs: _FeedState, now: datetime, *, rebase: bool) -> None:
        suspect = list(fs.suspect)
        self._suspect_clear(fs)
        if rebase:
            # Confirmed by persistence alone: the old level is history, the yardstick restarts from the new prints.
            fs.history.clear()
        for log_mid in suspect:
            self._accept(fs, log_mid, now)

    @staticmethod
    def _suspect_clear(fs: _FeedState) -> None:
        fs.suspect.clear()
        fs.suspect_since = fs.suspect_finding = None

    def _accept(self, fs: _FeedState, log_mid: float, now: datetime) -> None:
        fs.history.append(log_mid)
        fs.witness = fs.last
        if fs.bad is not None:
            fs.clean_streak += 1
            t = self.thresholds
            if fs.clean_streak >= t.recovery_messages and self._penalty(fs, now) <= t.reuse_penalty:
                fs.bad, fs.clean_streak = None, 0
                fs.failures.clear()

    def _reject(self, fs: _FeedState, finding: Finding, findings: list[Finding]) -> bool:
        self._suspect_clear(fs)
        fs.bad, fs.clean_streak, fs.witness = finding, 0, None
        fs.failures[finding.check] = finding
        fs.penalty = min(self._penalty(fs, finding.at) + 1.0, self.thresholds.max_penalty)
        fs.penalty_at = finding.at
        findings.append(finding)
        return False

    def _penalty(self, fs: _FeedState, now: datetime) -> float:
        """The feed's failure penalty at ``now``: what its failures added, halved every ``damping_half_life_s``."""
        half_life = self.thresholds.damping_half_life_s
        if fs.penalty_at is None or half_life == 0:
            return 0.0
        elapsed = max((now - fs.penalty_at).total_seconds(), 0.0)
        return fs.penalty * 0.5 ** (elapsed / half_life)

    @staticmethod
    def _outlier(symbol: str, feed: str, figures: dict[str, Any], now: datetime) -> Finding:
        return Finding(
            Check.OUTLIER,
            symbol,
            feed,
            Severity.ERROR,
            f"{symbol} feed {feed}: outlier mid {figures['mid']:.6g}, {figures['divergence_bps']:.1f} bps from feed "
            f"{figures['other_feed']} (threshold {figures['threshold_bps']:g} bps) and a jump against its own history",
            now,
            figures,
        )

    # ------------------------------------------------------------------------------------------------- state
    def _evaluate_all(self, now: datetime, findings: list[Finding]) -> tuple[Transition, ...]:
        transitions = []
        for state in self._symbols.values():
            transition = self._evaluate(state, now, findings)
            if transition is not None:
                transitions.append(transition)
        return tuple(transitions)

    def _evaluate(self, state: _SymbolState, now: datetime, findings: list[Finding]) -> Transition | None:
        t = self.thresholds
        symbol = state.symbol
        for fs in state.feeds.values():
            silent_since = fs.last_seen or state.first_seen
            silent_s = (now - silent_since).total_seconds()
            if silent_s >= t.stale_after_s and not fs.silent:
                fs.silent = True
                self._reject(
                    fs,
                    Finding(
                        Check.STALE,
                        symbol,
                        fs.feed,
                        Severity.ERROR,
                        f"{symbol} feed {fs.feed}: stale, silent for {silent_s:.1f} s "
                        f"(threshold {t.stale_after_s:g} s)",
                        now,
                        {"silent_s": silent_s, "threshold_s": t.stale_after_s},
                    ),
                    findings,
                )
        # Until every feed has spoken (or had the time to), the picture is incomplete: no verdict yet.
        if state.health is None and any(fs.last_seen is None and fs.bad is None for fs in state.feeds.values()):
            return None
        pending = timedelta(seconds=t.pair_tolerance_s)
        trusted = [fs for fs in state.feeds.values() if fs.bad is None and not fs.is_suspect and fs.last is not None]
        waiting = [
            fs for fs in state.feeds.values() if fs.is_suspect and fs.suspect_since and now - fs.suspect_since < pending
        ]
        if waiting and trusted and state.health is not None:
            # A jump waits (briefly) for the other feed's message of the same moment: judging it before would
            # flag every genuine fast move that one feed happens to publish first.
            return None
        price: float | None = None
        source: str | None = None
        if not trusted:
            status = Health.HALTED
        else:
            status = Health.HEALTHY if len(trusted) == len(state.feeds) else Health.DEGRADED
            source = trusted[0].feed
            price = trusted[0].last.mid if trusted[0].last is not None else None
            # The market checks judge what the trusted feeds show; with none trusted they keep their last verdict.
            self._conditions(state, trusted, now, findings)
        for check in state.conditions:
            status = _worse(status, Health.HALTED if check in t.halting_checks else Health.DEGRADED)
        reasons = _unique(
            (
                *(
                    reason
                    for fs in state.feeds.values()
                    if fs not in trusted
                    for reason in (*fs.failures.values(), fs.suspect_finding)
                    if reason is not None
                ),
                *state.conditions.values(),
            )
        )
        previous = state.health
        if (
            previous is not None
            and _RANK[status] < _RANK[previous.state]
            and (now - previous.since).total_seconds() < t.min_state_s
        ):
            # Better, but not for long enough yet: the state holds (with its reasons, if nothing is wrong now).
            status = previous.state
            reasons = reasons or previous.reasons
        changed = previous is None or previous.state != status
        state.health = SymbolHealth(
            symbol=symbol,
            state=status,
            price=price,
            source_feed=source,
            trusted_feeds=tuple(fs.feed for fs in trusted),
            reasons=reasons,
            since=previous.since if previous is not None and not changed else now,
        )
        if changed:
            return Transition(previous.state if previous else None, state.health)
        return None

    # ----------------------------------------------------------------------------------------- market checks
    def _conditions(
        self, state: _SymbolState, trusted: list[_FeedState], now: datetime, findings: list[Finding]
    ) -> None:
        """Update the market checks firing on ``state`` from the first trusted feed's latest quote (and, for
        spoofing, every trusted feed's order book); a check that starts firing adds its finding to ``findings``."""
        self._series_add(state, trusted[0])
        if not state.recent:
            return
        source = trusted[0].feed
        verdicts = {
            Check.FAST_MOVE: self._fast_move(state, source, now),
            Check.VOLATILITY: self._volatility(state, source, now),
            Check.LIQUIDITY: self._liquidity(state, source, now),
            Check.SPOOFING: self._spoofing(state, trusted, now, findings),
        }
        # Each verdict: a Finding (starts firing), True (still firing), False (not firing) or None (not enough history
        # to judge: the check keeps its verdict).
        for check, verdict in verdicts.items():
            if verdict is False:
                state.conditions.pop(check, None)
            elif isinstance(verdict, Finding):
                state.conditions[check] = verdict
                findings.append(verdict)

    def _series_add(self, state: _SymbolState, source: _FeedState) -> None:
        quote = source.last
        if quote is None or (state.recent and quote.ts <= state.recent[-1].ts):
            return
        t = self.thresholds
        depth = None if quote.bid_size is None or quote.ask_size is None else min(quote.bid_size, quote.ask_size)
        point = _Point(quote.ts, math.log(quote.mid), (quote.ask - quote.bid) / quote.mid * BPS, depth)
        state.recent.append(point)
        horizon = timedelta(seconds=max(t.fast_move_window_s, t.liquidity_window_s))
        while state.recent[0].ts < quote.ts - horizon:
            state.recent.popleft()
        if not state.samples or (quote.ts - state.samples[-1].ts).total_seconds() >= t.volatility_sample_s - 1e-9:
            state.samples.append(point)
            kept = timedelta(seconds=t.volatility_baseline_s + t.volatility_window_s + t.volatility_sample_s)
            while state.samples[0].ts < quote.ts - kept:
                state.samples.popleft()

    def _market_finding(
        self, check: Check, state: _SymbolState, feed: str, message: str, now: datetime, figures: dict[str, Any]
    ) -> Finding:
        severity = Severity.ERROR if check in self.thresholds.halting_checks else Severity.WARNING
        return Finding(check, state.symbol, feed, severity, f"{state.symbol}: {message}", now, figures)

    def _fast_move(self, state: _SymbolState, source: str, now: datetime) -> Finding | bool:
        t = self.thresholds
        latest = state.recent[-1]
        since = latest.ts - timedelta(seconds=t.fast_move_window_s)
        start = max((p for p in state.recent if p.ts >= since), key=lambda p: abs(latest.log_mid - p.log_mid))
        move_bps = abs(latest.log_mid - start.log_mid) * BPS
        firing = Check.FAST_MOVE in state.conditions
        if move_bps < (t.fast_move_clear_bps if firing else t.fast_move_bps):
            return False
        if firing:
            return True
        seconds = (latest.ts - start.ts).total_seconds()
        return self._market_finding(
            Check.FAST_MOVE,
            state,
            source,
            f"fast move, the mid went {math.exp(start.log_mid):.6g} → {math.exp(latest.log_mid):.6g} "
            f"({move_bps:.0f} bps) in {seconds:.1f} s (band {t.fast_move_bps:g} bps within {t.fast_move_window_s:g} s)",
            now,
            {
                "move_bps": move_bps,
                "seconds": seconds,
                "threshold_bps": t.fast_move_bps,
                "window_s": t.fast_move_window_s,
                "from_mid": math.exp(start.log_mid),
                "to_mid": math.exp(latest.log_mid),
            },
        )

    def _baseline(self, state: _SymbolState) -> list[_Point] | None:
        """The sampled points before the recent window, or None while there are too few to judge against."""
        t = self.thresholds
        cut = state.recent[-1].ts - timedelta(seconds=t.volatility_window_s)
        baseline = [p for p in state.samples if p.ts <= cut]
        return baseline if len(baseline) >= t.volatility_min_baseline else None

    def _volatility(self, state: _SymbolState, source: str, now: datetime) -> Finding | bool | None:
        t = self.thresholds
        baseline = self._baseline(state)
        if baseline is None:
            return None
        cut = baseline[-1].ts
        points = list(state.samples)
        returns = [
            (b.ts, abs(b.log_mid - a.log_mid) * math.sqrt(t.volatility_sample_s / (b.ts - a.ts).total_seconds()))
            for a, b in zip(points, points[1:], strict=False)
            if b.ts > a.ts
        ]
        recent = [r for ts, r in returns if ts > cut]
        before = [r for ts, r in returns if ts <= cut]
        if len(recent) < max(2, int(t.volatility_window_s / t.volatility_sample_s / 2)) or len(before) < 2:
            return None
        per_sample_year = math.sqrt(SECONDS_PER_YEAR / t.volatility_sample_s)
        sigma = statistics.median(recent) * MAD_TO_SIGMA * per_sample_year
        usual = max(statistics.median(before) * MAD_TO_SIGMA * per_sample_year, t.volatility_floor)
        ratio = sigma / usual
        firing = Check.VOLATILITY in state.conditions
        if ratio < (t.volatility_clear_ratio if firing else t.volatility_ratio):
            return False
        if firing:
            return True
        return self._market_finding(
            Check.VOLATILITY,
            state,
            source,
            f"volatility {sigma:.0%} over the last {t.volatility_window_s:g} s, {ratio:.1f}× the {usual:.0%} before "
            f"(threshold {t.volatility_ratio:g}×)",
            now,
            {
                "volatility": sigma,
                "baseline_volatility": usual,
                "ratio": ratio,
                "threshold_ratio": t.volatility_ratio,
                "window_s": t.volatility_window_s,
            },
        )

    def _liquidity(self, state: _SymbolState, source: str, now: datetime) -> Finding | bool | None:
        t = self.thresholds
        baseline = self._baseline(state)
        if baseline is None:
            return None
        since = state.recent[-1].ts - timedelta(seconds=t.liquidity_window_s)
        recent = [p for p in state.recent if p.ts > since]
        spread = statistics.median(p.spread_bps for p in recent)
        usual_spread = statistics.median(p.spread_bps for p in baseline)
        spread_ratio = spread / usual_spread if usual_spread > 0 else 1.0
        depths = [p.depth for p in recent if p.depth is not None]
        usual_depths = [p.depth for p in baseline if p.depth is not None]
        depth_ratio = 1.0
        if depths and usual_depths and statistics.median(usual_depths) > 0:
            depth_ratio = statistics.median(depths) / statistics.median(usual_depths)
        firing = Check.LIQUIDITY in state.conditions
        if firing:
            return spread_ratio >= t.liquidity_spread_clear or depth_ratio <= t.liquidity_depth_clear
        if spread_ratio < t.liquidity_spread_ratio and depth_ratio > t.liquidity_depth_ratio:
            return False
        return self._market_finding(
            Check.LIQUIDITY,
            state,
            source,
            f"liquidity withdrawn, over the last {t.liquidity_window_s:g} s the spread is {spread:.1f} bps "
            f"({spread_ratio:.1f}× usual, threshold {t.liquidity_spread_ratio:g}×) and the best-level depth "
            f"{depth_ratio:.0%} of usual (threshold {t.liquidity_depth_ratio:.0%})",
            now,
            {
                "spread_bps": spread,
                "usual_spread_bps": usual_spread,
                "spread_ratio": spread_ratio,
                "depth_ratio": depth_ratio,
                "threshold_spread_ratio": t.liquidity_spread_ratio,
                "threshold_depth_ratio": t.liquidity_depth_ratio,
            },
        )

    def _book_track(self, fs: _FeedState, quote: _Quote) -> None:
        """Follow each side's depth on ``fs``: open a candidate spoof order when a side jumps far above its usual
        depth and makes the book lopsided, and keep it as pulled when it leaves cancelled within its life."""
        book = quote.book
        fs.book_seen = book is not None
        if book is None:
            return
        t = self.thresholds
        for side, other in (("bid", "ask"), ("ask", "bid")):
            depth, usual = book.depth[side], fs.depths[side]
            wall = fs.walls[side]
            if wall is None:
                base = statistics.median(usual) if len(usual) >= t.spoof_min_history else 0.0
                total = depth + book.depth[other]
                imbalance = (depth - book.depth[other]) / total if total > 0 else 0.0
                if base > 0 and depth >= t.spoof_size_multiple * base and imbalance >= t.spoof_imbalance:
                    fs.walls[side] = _Wall(side, quote.ts, base, depth, imbalance, cancelled=book.cancelled[side])
                else:
                    usual.append(depth)
                continue
            wall.cancelled += book.cancelled[side]
            wall.traded += book.traded
            wall.peak = max(wall.peak, depth)
            life_s = (quote.ts - wall.opened).total_seconds()
            if depth < 0.5 * t.spoof_size_multiple * wall.base:
                fs.walls[side] = None
                usual.append(depth)
                size = wall.peak - wall.base
                pulled = (
                    wall.cancelled >= t.spoof_cancel_fraction * size
                    and wall.traded <= (1.0 - t.spoof_cancel_fraction) * size
                )
                if pulled and not wall.standing and life_s <= t.spoof_life_s:
                    wall.closed = quote.ts
                    fs.pulled.append(wall)
            elif life_s > t.spoof_life_s:
                wall.standing = True

    def _spoof_pattern(self, fs: _FeedState, side: str, latest: datetime) -> list[_Wall]:
        since = latest - timedelta(seconds=self.thresholds.spoof_window_s)
        return [w for w in fs.pulled if w.side == side and w.closed is not None and w.closed > since]

    def _spoofing(
        self, state: _SymbolState, trusted: list[_FeedState], now: datetime, findings: list[Finding]
    ) -> Finding | bool | None:
        t = self.thresholds
        booked = [fs for fs in trusted if fs.book_seen and fs.last is not None]
        if not booked:
            return None
        latest = max(fs.last.ts for fs in booked if fs.last is not None)
        tolerance = timedelta(seconds=t.pair_tolerance_s)
        for fs in booked:
            for side in SIDES:
                walls = self._spoof_pattern(fs, side, latest)
                if len(walls) < t.spoof_cycles:
                    continue
                witnesses = [other for other in booked if other is not fs]
                confirmed = [
                    other.feed
                    for other in witnesses
                    if sum(
                        any(
                            theirs.opened <= ours.closed + tolerance and theirs.closed >= ours.opened - tolerance
                            for theirs in self._spoof_pattern(other, side, latest)
                            if theirs.closed is not None and ours.closed is not None
                        )
                        for ours in walls
                    )
                    >= t.spoof_cycles
                ]
                if confirmed or not witnesses:
                    if Check.SPOOFING in state.conditions:
                        return True
                    return self._spoof_finding(state, fs, side, walls, confirmed, now)
                last_closed = walls[-1].closed
                caught_up = all(
                    o.last is not None and last_closed is not None and o.last.ts >= last_closed for o in witnesses
                )
                if caught_up and last_closed is not None and state.contradicted.get((fs.feed, side)) != last_closed:
                    state.contradicted[(fs.feed, side)] = last_closed
                    findings.append(
                        Finding(
                            Check.SPOOFING,
                            state.symbol,
                            fs.feed,
                            Severity.WARNING,
                            f"{state.symbol} feed {fs.feed}: {len(walls)} large {side} orders shown and pulled, but "
                            f"feed(s) {'/'.join(o.feed for o in witnesses)} never showed them: a fault of feed "
                            f"{fs.feed}, not spoofing in the market; not acted on",
                            now,
                            {
                                "side": side,
                                "orders": len(walls),
                                "contradicted_by": "/".join(o.feed for o in witnesses),
                            },
                        )
                    )
        return Check.SPOOFING in state.conditions and any(
            len(self._spoof_pattern(fs, side, latest)) >= t.spoof_cycles for fs in booked for side in SIDES
        )

    def _spoof_finding(
        self,
        state: _SymbolState,
        fs: _FeedState,
        side: str,
        walls: list[_Wall],
        confirmed: list[str],
        now: datetime,
    ) -> Finding:
        t = self.thresholds
        largest = max(walls, key=lambda w: w.peak)
        lives = [(w.closed - w.opened).total_seconds() for w in walls if w.closed is not None]
        feeds = "/".join((fs.feed, *confirmed))
        witness = (
            f"confirmed by feed {'/'.join(confirmed)}" if confirmed else "no other feed could confirm or contradict"
        )
        return self._market_finding(
            Check.SPOOFING,
            state,
            feeds,
            f"spoofing on the {side}, {len(walls)} orders of up to {largest.peak:.4g} "
            f"({largest.peak / largest.base:.0f}× the usual depth, imbalance {largest.imbalance:.2f}) pulled within "
            f"{max(lives):.0f} s in the last {t.spoof_window_s:g} s ({witness})",
            now,
            {
                "side": side,
                "orders": len(walls),
                "largest": largest.peak,
                "size_multiple": largest.peak / largest.base,
                "imbalance": largest.imbalance,
                "cancelled_fraction": min(w.cancelled / max(w.peak - w.base, 1e-12) for w in walls),
                "longest_life_s": max(lives),
                "window_s": t.spoof_window_s,
                "confirmed_by": "/".join(confirmed) or None,
            },
        )


def _worse(a: Health, b: Health) -> Health:
    return a if _RANK[a] >= _RANK[b] else b


def _pair_figures(
    mid: float,
    other_feed: str,
    other_mid: float,
    divergence_bps: float,
    threshold_bps: float,
    jump_bps: float | int | str | None,
    band_bps: float | int | str | None,
) -> dict[str, Any]:
    return {
        "mid": mid,
        "other_feed": other_feed,
        "other_mid": other_mid,
        "divergence_bps": divergence_bps,
        "threshold_bps": threshold_bps,
        "jump_bps": jump_bps,
        "band_bps": band_bps,
    }


def _unique(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    seen: list[Finding] = []
    for finding in findings:
        if all(finding is not other for other in seen):
            seen.append(finding)
    return tuple(seen)


def _printable(value: Any) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    return str(value)[:32]


def _parse(message: Mapping[str, Any], feeds: tuple[str, ...]) -> tuple[int, _Quote] | str:
    """The sequence number and the quote of a signed message, or what is wrong with it."""
    if message.get("feed") not in feeds:
        return f"unknown feed {message.get('feed')!r}"
    if not isinstance(message.get("symbol"), str) or not message["symbol"]:
        return "no symbol"
    seq = message.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"bad seq {seq!r}"
    try:
        ts = datetime.fromisoformat(str(message["ts"]))
    except (KeyError, ValueError):
        return f"bad timestamp {message.get('ts')!r}"
    if ts.tzinfo is None:
        return f"naive timestamp {message['ts']!r}"
    prices = {}
    for name in ("bid", "ask", "mid"):
        value = message.get(name)
        if not _number(value) or value <= 0:
            return f"bad {name} {value!r}"
        prices[name] = float(value)
    sizes: list[float | None] = []
    for name in ("bid_size", "ask_size"):
        value = message.get(name)
        if value is not None and (not _number(value) or value < 0):
            return f"bad {name} {value!r}"
        sizes.append(None if value is None else float(value))
    carried = [name for name in (*BOOK_FIELDS, *FLOW_FIELDS) if name in message]
    book = None
    if carried:
        if len(carried) != len(BOOK_FIELDS) + len(FLOW_FIELDS):
            missing = sorted(set(BOOK_FIELDS) | set(FLOW_FIELDS) - set(carried))
            return f"partial order book, {', '.join(missing)} missing"
        for name in carried:
            value = message[name]
            if not _number(value) or value < 0:
                return f"bad {name} {value!r}"
        book = _Book(
            depth={side: float(message[f"{side}_depth"]) for side in SIDES},
            added={side: float(message[f"{side}_added"]) for side in SIDES},
            cancelled={side: float(message[f"{side}_cancelled"]) for side in SIDES},
            traded=float(message["traded"]),
        )
    return seq, _Quote(ts, prices["bid"], prices["ask"], prices["mid"], sizes[0], sizes[1], book)


def _number(value: object) -> TypeGuard[int | float]:
    """A finite int or float (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
