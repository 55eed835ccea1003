"""Market-data validation and the per-underlying health state, independent of the algorithms. Pure: no ORM.

:class:`FeedMonitor` takes the redundant feeds' messages (see :mod:`risk.feed`) one at a time with a
clock and answers, per message, what it found (:class:`Finding`) and which underlyings changed state
(:class:`Transition`). The checks, in the order a message meets them:

1. integrity: a bad HMAC discards the message (its ``feed`` and ``symbol`` are then only claims);
2. form: missing, non-numeric, non-finite or non-positive prices discard the message;
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

A feed that failed a check is trusted again only after ``recovery_messages`` consecutive clean messages, so that
an intermittently corrupt feed stays out rather than flapping in and out.

State per underlying: ``healthy`` (every feed trusted), ``degraded`` (some feed untrusted: the price comes from a
trusted one) or ``halted`` (none trusted: no price). The validated price is the mid of the first trusted feed in
the monitor's feed order (A before B): one source, never a blend, so that every price can be traced to a message.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from risk.feed import FEED_IDS, feed_verify

__all__ = [
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
# 1 / Φ⁻¹(3/4): scales a median absolute deviation to a standard deviation for normal returns.
MAD_TO_SIGMA = 1.4826


class Health(StrEnum):
    """The state of one underlying's market data."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    HALTED = "halted"


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


class Severity(StrEnum):
    """``warning``: reported, the feed is still trusted; ``error``: the feed (or message) is not trusted."""

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

    def __post_init__(self) -> None:
        for name in ("stale_after_s", "divergence_bps", "outlier_k", "outlier_floor_bps", "pair_tolerance_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number at least 0, not {value!r}")
        for name in ("median_messages", "volatility_messages", "min_history", "confirm_messages"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.recovery_messages < 0:
            raise ValueError("recovery_messages must be at least 0")
        if self.volatility_messages < 3:
            raise ValueError("volatility_messages must be at least 3 (two returns make no spread)")


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

    ``reasons`` are the findings that keep the untrusted feeds out (empty when healthy); ``since`` is the monitor's
    clock at the last change of state.
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "state": str(self.state),
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
    """What one call of :meth:`FeedMonitor.observe` or :meth:`FeedMonitor.tick` found and changed."""

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


@dataclass
class _Quote:
    ts: datetime
    bid: float
    ask: float
    mid: float


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
    silent: bool = False
    clean_streak: int = 0
    suspect: list[float] = field(default_factory=list)
    suspect_since: datetime | None = None
    suspect_finding: Finding | None = None

    @property
    def is_suspect(self) -> bool:
        return bool(self.suspect)


@dataclass(eq=False)
class _SymbolState:
    symbol: str
    feeds: dict[str, _FeedState]
    first_seen: datetime
    health: SymbolHealth | None = None


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
        """Judge one feed message received at ``now`` (UTC-aware, the monitor's clock).

        Returns
        -------
        Observation
            The findings (possibly on the other feed, when this message refutes its suspect jump), the state
            transitions, and whether the message's price was accepted.
        """
        findings: list[Finding] = []
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
            return self._observation(findings, now)
        parsed = _parse(message, self.feeds)
        if isinstance(parsed, str):
            findings.append(
                Finding(
                    Check.MALFORMED, symbol, feed, Severity.ERROR, f"{symbol} feed {feed}: {parsed}; discarded", now
                )
            )
            return self._observation(findings, now)
        seq, quote = parsed
        if not self._sequence_check(feed, symbol, seq, now, findings):
            return self._observation(findings, now)
        state = self._symbol(symbol, now)
        accepted = self._judge(state, state.feeds[feed], quote, now, findings)
        return self._observation(findings, now, accepted=accepted)

    def tick(self, *, now: datetime) -> Observation:
        """Re-evaluate every underlying at ``now`` without a message: silence makes feeds stale, and suspect jumps
        whose witness did not come in time are judged without it. Call it regularly (the service does)."""
        findings: list[Finding] = []
        return self._observation(findings, now)

    def _observation(self, findings: list[Finding], now: datetime, *, accepted: bool = False) -> Observation:
        # Evaluated first: the evaluation adds its own findings (silence) to the list.
        transitions = self._evaluate_all(now, findings)
        return Observation(tuple(findings), transitions, accepted)

    # ------------------------------------------------------------------------------------------------ checks
    def _symbol(self, symbol: str, now: datetime) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            history_len = max(self.thresholds.volatility_messages, self.thresholds.median_messages)
            state = _SymbolState(
                symbol=symbol,
                feeds={feed: _FeedState(feed, deque(maxlen=history_len)) for feed in self.feeds},
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
                    self._accept_suspect(other, rebase=False)
                self._suspect_clear(fs)
                self._accept(fs, log_mid)
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
            self._accept(fs, log_mid)
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
            self._accept(fs, log_mid)
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
            self._accept_suspect(fs, rebase=True)
            return True
        return False

    def _accept_suspect(self, fs: _FeedState, *, rebase: bool) -> None:
        suspect = list(fs.suspect)
        self._suspect_clear(fs)
        if rebase:
            # Confirmed by persistence alone: the old level is history, the yardstick restarts from the new prints.
            fs.history.clear()
        for log_mid in suspect:
            self._accept(fs, log_mid)

    @staticmethod
    def _suspect_clear(fs: _FeedState) -> None:
        fs.suspect.clear()
        fs.suspect_since = fs.suspect_finding = None

    def _accept(self, fs: _FeedState, log_mid: float) -> None:
        fs.history.append(log_mid)
        fs.witness = fs.last
        if fs.bad is not None:
            fs.clean_streak += 1
            if fs.clean_streak >= self.thresholds.recovery_messages:
                fs.bad, fs.clean_streak = None, 0

    def _reject(self, fs: _FeedState, finding: Finding, findings: list[Finding]) -> bool:
        self._suspect_clear(fs)
        fs.bad, fs.clean_streak, fs.witness = finding, 0, None
        findings.append(finding)
        return False

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
        reasons = tuple(
            reason
            for fs in state.feeds.values()
            if fs not in trusted
            for reason in (fs.bad, fs.suspect_finding)
            if reason is not None
        )
        previous = state.health
        changed = previous is None or previous.state != status
        state.health = SymbolHealth(
            symbol=symbol,
            state=status,
            price=price,
            source_feed=source,
            trusted_feeds=tuple(fs.feed for fs in trusted),
            reasons=_unique(reasons),
            since=previous.since if previous is not None and not changed else now,
        )
        if changed:
            return Transition(previous.state if previous else None, state.health)
        return None


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
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            return f"bad {name} {value!r}"
        prices[name] = float(value)
    return seq, _Quote(ts=ts, **prices)
