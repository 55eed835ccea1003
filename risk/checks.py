"""Pre-trade checks: pure functions on floats, no ORM, no Decimal.

Each check takes an :class:`OrderState` (the proposed order and the state it lands in) and one limit value in the
unit its kind names, and returns a :class:`CheckResult` that says whether the order passes, with the limit named
and the figures. :mod:`risk.services` converts Decimals to floats at its boundary, picks the tightest applicable
limit of each kind and runs the checks in :data:`CHECKS`.

An order exactly at a limit passes. Floats cannot always hold an exact boundary (0.5 / 100 * 10 000 is
50.000000000000007), so every comparison allows a relative tolerance of :data:`REL_TOL`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

# The limit kinds, spelled as :class:`risk.models.LimitKind` values (kept equal by a test): this module stays free
# of Django so that it can be benchmarked and property-tested on its own.
PRICE_COLLAR_BPS = "price_collar_bps"
MAX_ORDER_NOTIONAL = "max_order_notional"
MAX_ORDER_QUANTITY = "max_order_quantity"
MAX_POSITION = "max_position"
PARTICIPATION_CAP = "participation_cap"
MAX_DAILY_LOSS = "max_daily_loss"
MAX_DEALER_EXPOSURE = "max_dealer_exposure"
MAX_ORDER_RATE = "max_order_rate"
# Not a limit row: the rule that no order leaves without a fresh price validated by the market-health monitor.
VALIDATED_PRICE = "validated_price"

REL_TOL = 1e-9
BPS = 10_000.0
# The collar widens with volatility, but never beyond this multiple of its calm-market width: in a crash a band
# that grew without bound would stop protecting against fat fingers.
COLLAR_MAX_WIDENING = 3.0


@dataclass(frozen=True, slots=True)
class OrderState:
    """A proposed order and the state it would trade into, all in floats.

    Attributes
    ----------
    side_sign : float
        +1.0 for a buy, -1.0 for a sell.
    quantity : float
        Order size, contracts, > 0.
    price : float
        Limit price, quote currency per contract unit (before the multiplier).
    multiplier : float
        Units of the base currency per contract (notional = quantity × price × multiplier).
    mid : float
        Validated reference mid price, same unit as ``price``; NaN when there is none.
    position : float
        Signed position of the book in the instrument before the order, contracts (+ long, - short).
    recent_volume : float
        Market volume in the participation window (e.g. the last 5 minutes), contracts.
    pnl_today : float
        Realized plus unrealized P&L of the book today, quote currency (negative: a loss).
    volatility_ratio : float
        Realized volatility over its reference level (1.0 in a calm market, 2.0 when volatility doubled).
    dealer_exposure : float
        Notional already exposed to the order's dealer (open orders plus today's fills), quote currency; NaN when
        the order goes to no dealer.
    """

    side_sign: float
    quantity: float
    price: float
    multiplier: float = 1.0
    mid: float = math.nan
    position: float = 0.0
    recent_volume: float = 0.0
    pnl_today: float = 0.0
    volatility_ratio: float = 1.0
    dealer_exposure: float = math.nan

    @property
    def position_after(self) -> float:
        """Signed position if the order fills in full, contracts."""
        return self.position + self.side_sign * self.quantity

    @property
    def reduces_risk(self) -> bool:
        """True when the order strictly shrinks the absolute position (a flip to the same size does not)."""
        return abs(self.position_after) < abs(self.position)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: ``limit`` is the kind's name, ``observed`` and ``threshold`` are in its unit
    (``threshold`` after any volatility scaling), ``message`` says it all in one line.

    ``describe`` is the message or a function that writes it: formatting the figures costs more than the check
    itself, and only a refusal's message is read, so the checks pass a function and ``message`` calls it.
    """

    limit: str
    passed: bool
    observed: float
    threshold: float
    describe: str | Callable[[], str] = field(repr=False, compare=False)

    @property
    def message(self) -> str:
        return self.describe if isinstance(self.describe, str) else self.describe()


def _fmt(value: float) -> str:
    """Six decimals at most, no trailing zeros: 89.99999999999999 shows as 90, 100.9 as 100.9."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    text = f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _within(observed: float, threshold: float) -> bool:
    return observed <= threshold + REL_TOL * max(abs(threshold), 1.0)


def _valid_mid(mid: float) -> bool:
    return math.isfinite(mid) and mid > 0.0


def collar_band_bps(limit_bps: float, volatility_ratio: float) -> float:
    """Width of the price collar, bps: the limit scaled by volatility, between 1× and :data:`COLLAR_MAX_WIDENING`×.

    The band follows volatility so that a fast but genuine market does not refuse every order; calm markets
    (ratio ≤ 1) keep the limit as set.
    """
    return limit_bps * min(max(volatility_ratio, 1.0), COLLAR_MAX_WIDENING)


def price_collar(state: OrderState, limit_bps: float) -> CheckResult:
    """The limit price must lie within the collar band around the mid (both sides: a fat finger either way).

    Distance = |price − mid| / mid × 10 000, bps. No valid mid is a refusal: no order leaves on an unvalidated
    price.
    """
    band = collar_band_bps(limit_bps, state.volatility_ratio)
    if not _valid_mid(state.mid):
        return CheckResult(
            PRICE_COLLAR_BPS,
            False,
            math.nan,
            band,
            lambda: (
                f"{PRICE_COLLAR_BPS}: limit {_fmt(band)} bps, no valid mid to check order price {_fmt(state.price)}"
            ),
        )
    distance = abs(state.price - state.mid) / state.mid * BPS

    def describe() -> str:
        scaled = (
            "" if band == limit_bps else f" (set {_fmt(limit_bps)}, widened ×{_fmt(band / limit_bps)} by volatility)"
        )
        return (
            f"{PRICE_COLLAR_BPS}: limit {_fmt(band)} bps{scaled}, order {_fmt(state.price)} is {_fmt(distance)} bps "
            f"from mid {_fmt(state.mid)}"
        )

    return CheckResult(PRICE_COLLAR_BPS, _within(distance, band), distance, band, describe)


def max_order_notional(state: OrderState, limit: float) -> CheckResult:
    """Order notional = quantity × price × multiplier, quote currency, at most ``limit``."""
    notional = state.quantity * state.price * state.multiplier
    return CheckResult(
        MAX_ORDER_NOTIONAL,
        _within(notional, limit),
        notional,
        limit,
        lambda: (
            f"{MAX_ORDER_NOTIONAL}: limit {_fmt(limit)}, order {_fmt(state.quantity)} × {_fmt(state.price)}"
            + ("" if state.multiplier == 1.0 else f" × {_fmt(state.multiplier)}")
            + f" = {_fmt(notional)}"
        ),
    )


def max_order_quantity(state: OrderState, limit: float) -> CheckResult:
    """Order quantity at most ``limit``, contracts: the fat-finger guard on size, whatever the price."""
    return CheckResult(
        MAX_ORDER_QUANTITY,
        _within(state.quantity, limit),
        state.quantity,
        limit,
        lambda: f"{MAX_ORDER_QUANTITY}: limit {_fmt(limit)}, order {_fmt(state.quantity)}",
    )


def dynamic_position_limit(limit: float, volatility_ratio: float) -> float:
    """The position limit in force, contracts: ``limit / max(1, volatility_ratio)``.

    Above its reference level, volatility shrinks the limit in proportion, which keeps the volatility of the largest
    allowed position (position × σ) no larger than in a calm market; below it the limit stays as set, never above.
    """
    return limit / max(volatility_ratio, 1.0)


def max_position(state: OrderState, limit: float) -> CheckResult:
    """|position after the order| must not exceed the dynamic limit; an order that reduces risk always passes."""
    threshold = dynamic_position_limit(limit, state.volatility_ratio)
    after = state.position_after
    passed = _within(abs(after), threshold) or state.reduces_risk

    def describe() -> str:
        scaled = "" if threshold == limit else f" (set {_fmt(limit)}, ÷{_fmt(state.volatility_ratio)} for volatility)"
        reducing = ", reduces risk" if state.reduces_risk else ""
        return (
            f"{MAX_POSITION}: limit {_fmt(threshold)}{scaled}, position {_fmt(state.position)} → {_fmt(after)} "
            f"after the order{reducing}"
        )

    return CheckResult(MAX_POSITION, passed, abs(after), threshold, describe)


def participation_cap(state: OrderState, cap: float) -> CheckResult:
    """Order quantity at most ``cap`` (a fraction, 0.25 = 25 %) of the recent market volume, contracts."""
    allowed = cap * state.recent_volume
    return CheckResult(
        PARTICIPATION_CAP,
        _within(state.quantity, allowed),
        state.quantity,
        allowed,
        lambda: (
            f"{PARTICIPATION_CAP}: limit {_fmt(cap)} × recent volume {_fmt(state.recent_volume)} = "
            f"{_fmt(allowed)}, order {_fmt(state.quantity)}"
        ),
    )


def max_daily_loss(state: OrderState, limit: float) -> CheckResult:
    """Loss today = −(realized + unrealized P&L), quote currency. Within the limit every order passes; once the loss
    is beyond it, only risk-reducing orders do."""
    loss = -state.pnl_today
    breached = not _within(loss, limit)
    passed = not breached or state.reduces_risk

    def describe() -> str:
        if not breached:
            status = "within"
        elif state.reduces_risk:
            status = "breached, risk-reducing order allowed"
        else:
            status = "breached, only risk-reducing orders pass"
        return f"{MAX_DAILY_LOSS}: limit {_fmt(limit)}, loss today {_fmt(loss)} ({status})"

    return CheckResult(MAX_DAILY_LOSS, passed, loss, limit, describe)


def max_dealer_exposure(state: OrderState, limit: float) -> CheckResult:
    """Exposure to the dealer after the order = exposure before + order notional, quote currency, at most
    ``limit``. An order to no dealer (NaN exposure) is not concerned and passes."""
    if math.isnan(state.dealer_exposure):
        return CheckResult(
            MAX_DEALER_EXPOSURE,
            True,
            0.0,
            limit,
            lambda: f"{MAX_DEALER_EXPOSURE}: limit {_fmt(limit)}, the order goes to no dealer",
        )
    notional = state.quantity * state.price * state.multiplier
    after = state.dealer_exposure + notional
    return CheckResult(
        MAX_DEALER_EXPOSURE,
        _within(after, limit),
        after,
        limit,
        lambda: (
            f"{MAX_DEALER_EXPOSURE}: limit {_fmt(limit)}, exposure {_fmt(state.dealer_exposure)} + order "
            f"{_fmt(notional)} = {_fmt(after)}"
        ),
    )


def order_rate(count: float, window_s: float, limit: float) -> CheckResult:
    """``count`` orders (this one included) in the last ``window_s`` seconds: their rate, orders per second, at
    most ``limit``. Not in :data:`CHECKS`: the count comes from an atomic counter, not from the order's state."""
    rate = count / window_s
    return CheckResult(
        MAX_ORDER_RATE,
        _within(rate, limit),
        rate,
        limit,
        lambda: f"{MAX_ORDER_RATE}: limit {_fmt(limit)}/s, {_fmt(count)} orders in {_fmt(window_s)} s = {_fmt(rate)}/s",
    )


def validated_price_check(age_s: float | None, max_age_s: float) -> CheckResult:
    """A validated reference price must exist and be fresh: validated by the market-health monitor at most
    ``max_age_s`` seconds ago. ``age_s`` is None when the monitor has no price for the underlying (never seen, or
    halted: no trusted feed)."""
    if age_s is None or not math.isfinite(age_s):
        return CheckResult(
            VALIDATED_PRICE,
            False,
            math.nan,
            max_age_s,
            lambda: (
                f"{VALIDATED_PRICE}: no price validated by the market-health monitor (fresh: at most "
                f"{_fmt(max_age_s)} s old)"
            ),
        )
    return CheckResult(
        VALIDATED_PRICE,
        _within(age_s, max_age_s),
        age_s,
        max_age_s,
        lambda: f"{VALIDATED_PRICE}: limit {_fmt(max_age_s)} s, validated price is {_fmt(age_s)} s old",
    )


Check = Callable[[OrderState, float], CheckResult]

# In the order a refusal lists them: the cheapest and most telling first.
CHECKS: dict[str, Check] = {
    PRICE_COLLAR_BPS: price_collar,
    MAX_ORDER_NOTIONAL: max_order_notional,
    MAX_ORDER_QUANTITY: max_order_quantity,
    MAX_POSITION: max_position,
    PARTICIPATION_CAP: participation_cap,
    MAX_DAILY_LOSS: max_daily_loss,
    MAX_DEALER_EXPOSURE: max_dealer_exposure,
}


def run_checks(state: OrderState, limits: dict[str, float]) -> list[CheckResult]:
    """Run the check of every kind that has a limit in ``limits`` (kind → value); kinds without one are not
    checked."""
    return [check(state, limits[kind]) for kind, check in CHECKS.items() if kind in limits]
