"""Per-plan execution telemetry: one small pure function per metric, and the rule that turns them into alerts and
actions. No ORM: :mod:`risk.telemetry_services` reads a running plan's fills and market state, converts them to the
floats of :class:`PlanTelemetryInput` and stores what :func:`telemetry_evaluate` returns.

Metrics (all fractions unless named otherwise, positive = bad for the desk):

- **slippage**: quantity-weighted ``side · (fill − benchmark) / benchmark``, the benchmark of each fill being the
  venue mid just before it (what the child could have had at mid);
- **impact**: ``side · (mid now − pre-trade mid) / pre-trade mid``, how far the market moved our way since the plan
  began (the pre-trade mid is the mid before its first fill);
- **participation**: our fills over the market's volume in the last 5 minutes;
- **fill_variance**: realized variance per second of the log fill prices over the variance per second that the
  venue's volatility implies (1 in an ordinary market; a ratio);
- **leakage**: Pearson correlation, floored at 0, between our child sizes and the mid's move in our direction just
  before each fill (the market running ahead of our orders).

Each metric has an alert threshold and an action threshold (settings, :class:`TelemetryThresholds`): at or above
the alert a risk alert is raised; strictly above the action threshold the action is taken as well. The slippage
thresholds tighten as volatility rises: both are divided by ``max(1, volatility ratio)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

SECONDS_PER_YEAR = 365.0 * 86_400.0
# Fewer points than this make a correlation or a variance noise, not evidence.
MIN_FILLS_VARIANCE = 3
MIN_FILLS_LEAKAGE = 5

SLIPPAGE = "slippage"
IMPACT = "impact"
PARTICIPATION = "participation"
FILL_VARIANCE = "fill_variance"
LEAKAGE = "leakage"

ALERT = "alert"
ACTION = "action"

NONE = "none"
PAUSE = "pause"
REDUCE = "reduce"
HALT = "halt"
REVIEW = "review"
REROUTE = "reroute"

# What each metric does above its action threshold.
ACTIONS: dict[str, str] = {
    SLIPPAGE: PAUSE,
    IMPACT: REDUCE,
    PARTICIPATION: HALT,
    FILL_VARIANCE: REVIEW,
    LEAKAGE: REROUTE,
}


@dataclass(frozen=True)
class TelemetryThresholds:
    """Alert and action thresholds: fractions (0.001 = 0.10 %), except ``fill_variance_*`` (multiples of the
    historical variance) and ``leakage_*`` (a correlation, 0..1)."""

    slippage_alert: float = 0.0010
    slippage_pause: float = 0.0025
    impact_alert: float = 0.0005
    impact_reduce: float = 0.0015
    participation_alert: float = 0.15
    participation_halt: float = 0.25
    fill_variance_alert: float = 2.0
    fill_variance_review: float = 3.0
    leakage_alert: float = 0.75
    leakage_reroute: float = 0.90

    def __post_init__(self) -> None:
        for metric in ACTIONS:
            alert, action = self.pair(metric)
            if not (math.isfinite(alert) and math.isfinite(action) and 0 < alert <= action):
                raise ValueError(f"{metric}: thresholds must be positive with alert <= action, not {alert}, {action}")

    def pair(self, metric: str) -> tuple[float, float]:
        """(alert, action) thresholds of ``metric``."""
        return getattr(self, f"{metric}_alert"), getattr(self, f"{metric}_{ACTIONS[metric]}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> TelemetryThresholds:
        """From a settings dict (unknown keys refused, missing ones default)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown telemetry thresholds: {', '.join(sorted(unknown))}")
        return cls(**{key: float(value) for key, value in values.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def realized_slippage(
    side_sign: float, quantities: Sequence[float], prices: Sequence[float], benchmarks: Sequence[float]
) -> float:
    """Quantity-weighted signed slippage of the fills against their benchmarks, a fraction (NaN without fills).

    ``Σ qᵢ · side · (pᵢ − bᵢ) / bᵢ / Σ qᵢ``: positive when buys paid above (sells sold below) the benchmark.
    """
    q = np.asarray(quantities, dtype=float)
    if q.size == 0 or q.sum() <= 0:
        return math.nan
    p, b = np.asarray(prices, dtype=float), np.asarray(benchmarks, dtype=float)
    return float(np.sum(q * side_sign * (p - b) / b) / np.sum(q))


def market_impact(side_sign: float, pretrade_mid: float, mid_now: float) -> float:
    """Signed move of the mid since before the plan traded, a fraction: ``side · (mid now − mid₀) / mid₀``."""
    if not (pretrade_mid > 0 and math.isfinite(mid_now)):
        return math.nan
    return side_sign * (mid_now - pretrade_mid) / pretrade_mid


def participation_rate(own_volume: float, market_volume: float) -> float:
    """Our share of the market's volume over the same window (NaN when the market traded nothing)."""
    if not market_volume > 0:
        return math.nan
    return own_volume / market_volume


def fill_variance_ratio(times_s: Sequence[float], prices: Sequence[float], volatility: float) -> float:
    """Realized variance per second of the log fill prices over the venue's, ``σ² / seconds per year``.

    The realized variance per second is ``Σ rᵢ² / Σ Δtᵢ`` over successive fills (zero-mean returns, as for
    intraday volatility). NaN with fewer than :data:`MIN_FILLS_VARIANCE` fills, no elapsed time or no volatility.
    """
    t, p = np.asarray(times_s, dtype=float), np.asarray(prices, dtype=float)
    if t.size < MIN_FILLS_VARIANCE or not volatility > 0:
        return math.nan
    elapsed = float(t[-1] - t[0])
    if elapsed <= 0:
        return math.nan
    returns = np.diff(np.log(p))
    realized = float(np.sum(returns**2)) / elapsed
    return realized / (volatility**2 / SECONDS_PER_YEAR)


def leakage_score(sizes: Sequence[float], moves_ahead: Sequence[float]) -> float:
    """Pearson correlation between our order sizes and the mid's move in our direction just before each, floored
    at 0 (a market that moves against our orders leaks nothing). 0 when either series is constant or has fewer than
    :data:`MIN_FILLS_LEAKAGE` points."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(moves_ahead, dtype=float)
    if x.size < MIN_FILLS_LEAKAGE or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    return max(0.0, float(np.sum(x * y) / math.sqrt(float(np.sum(x * x)) * float(np.sum(y * y)))))


def slippage_thresholds(thresholds: TelemetryThresholds, volatility_ratio: float) -> tuple[float, float]:
    """(alert, pause) slippage thresholds in force: divided by ``max(1, volatility ratio)``, so a fast market
    tolerates less slippage before the plan is paused, and a calm one no more than as set."""
    scale = max(volatility_ratio, 1.0) if math.isfinite(volatility_ratio) else 1.0
    return thresholds.slippage_alert / scale, thresholds.slippage_pause / scale


@dataclass(frozen=True)
class PlanFill:
    """One fill of the plan: seconds since the plan's first fill, quantity, price and the venue mid just before and
    just after it (quote currency)."""

    at_s: float
    quantity: float
    price: float
    mid_before: float
    mid_after: float


@dataclass(frozen=True)
class PlanTelemetryInput:
    """Everything the evaluation reads, in floats; stored as the decision record's inputs."""

    side_sign: float
    fills: tuple[PlanFill, ...]
    mid_now: float
    own_volume_5m: float
    market_volume_5m: float
    volatility: float
    volatility_ratio: float
    thresholds: TelemetryThresholds = field(default_factory=TelemetryThresholds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanTelemetryInput:
        values = dict(data)
        values["fills"] = tuple(PlanFill(**{k: float(v) for k, v in f.items()}) for f in values["fills"])
        values["thresholds"] = TelemetryThresholds.from_mapping(values.get("thresholds"))
        for name in ("side_sign", "mid_now", "own_volume_5m", "market_volume_5m", "volatility", "volatility_ratio"):
            values[name] = float(values[name])
        return cls(**values)


@dataclass(frozen=True)
class TelemetryBreach:
    """A metric at or above its alert threshold: ``level`` is ``alert`` or ``action`` (strictly above the action
    threshold, which is then ``threshold``), ``action`` what is done (``none`` for a plain alert)."""

    metric: str
    value: float
    threshold: float
    level: str
    action: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def telemetry_metrics(data: PlanTelemetryInput) -> dict[str, float]:
    """The five metrics of a plan (NaN where there is not enough to say)."""
    fills = data.fills
    quantities = [f.quantity for f in fills]
    return {
        SLIPPAGE: realized_slippage(
            data.side_sign, quantities, [f.price for f in fills], [f.mid_before for f in fills]
        ),
        IMPACT: market_impact(data.side_sign, fills[0].mid_before, data.mid_now) if fills else math.nan,
        PARTICIPATION: participation_rate(data.own_volume_5m, data.market_volume_5m),
        FILL_VARIANCE: fill_variance_ratio([f.at_s for f in fills], [f.price for f in fills], data.volatility),
        LEAKAGE: leakage_score(
            quantities[1:],
            [
                data.side_sign * (b.mid_before - a.mid_after) / a.mid_after
                for a, b in zip(fills, fills[1:], strict=False)
            ],
        ),
    }


def _pct(value: float) -> str:
    return f"{value * 100:.4g} %"


def _shown(metric: str, value: float) -> str:
    if metric == FILL_VARIANCE:
        return f"{value:.4g}×"
    if metric == LEAKAGE:
        return f"{value:.4g}"
    return _pct(value)


def telemetry_evaluate(data: PlanTelemetryInput) -> list[TelemetryBreach]:
    """The breaches of a plan's metrics, in the order of :data:`ACTIONS` (at most one per metric)."""
    metrics = telemetry_metrics(data)
    breaches = []
    for metric, action in ACTIONS.items():
        value = metrics[metric]
        if not math.isfinite(value):
            continue
        if metric == SLIPPAGE:
            alert, act = slippage_thresholds(data.thresholds, data.volatility_ratio)
        else:
            alert, act = data.thresholds.pair(metric)
        if value > act:
            level, threshold, taken = ACTION, act, action
        elif value >= alert:
            level, threshold, taken = ALERT, alert, NONE
        else:
            continue
        tail = f", {action}" if level == ACTION else ""
        breaches.append(
            TelemetryBreach(
                metric,
                value,
                threshold,
                level,
                taken,
                f"{metric} {_shown(metric, value)} {'above' if level == ACTION else 'at or above'} "
                f"{_shown(metric, threshold)} ({level}{tail})",
            )
        )
    return breaches
