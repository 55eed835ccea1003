"""Position arithmetic: how one fill changes a signed position, its average price and its realized P&L (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from desk.fields import QUANTUM


@dataclass(frozen=True)
class PositionState:
    """A book's position in one instrument.

    Attributes
    ----------
    quantity : Decimal
        Signed contracts: + long, - short.
    average_price : Decimal
        Average entry price of the open quantity, quote currency per unit (0 when flat).
    realized_pnl : Decimal
        Quote currency, fees deducted.
    """

    quantity: Decimal = Decimal(0)
    average_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)


def position_apply(
    state: PositionState,
    *,
    side: str,
    quantity: Decimal,
    price: Decimal,
    multiplier: Decimal = Decimal(1),
    fee: Decimal = Decimal(0),
) -> PositionState:
    """The position after one fill.

    A fill in the direction of the position (or from flat) extends it at the quantity-weighted average price. A
    fill against it closes ``min(|position|, quantity)`` at ``price``, realizing
    ``closed × (price − average) × multiplier`` for a long (the opposite sign for a short); what is left of the
    fill beyond the position opens a new one at ``price``. A position closed to zero has average price 0. The fee
    is always deducted from the realized P&L. The average price is rounded half-even to the stored precision.

    Parameters
    ----------
    state : PositionState
        The position before the fill.
    side : {'buy', 'sell'}
        The fill's side, from the book's point of view.
    quantity : Decimal
        Contracts filled, > 0.
    price : Decimal
        Fill price, quote currency per unit of the underlying, > 0.
    multiplier : Decimal
        Units of the underlying per contract.
    fee : Decimal
        Quote currency, >= 0.

    Returns
    -------
    PositionState
    """
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    if quantity <= 0 or price <= 0 or multiplier <= 0 or fee < 0:
        raise ValueError("quantity, price and multiplier must be positive, the fee non-negative")
    signed = quantity if side == "buy" else -quantity
    old = state.quantity
    new = old + signed
    realized = state.realized_pnl - fee
    if old == 0 or (old > 0) == (signed > 0):
        average = (abs(old) * state.average_price + quantity * price) / abs(new)
    else:
        closed = min(abs(old), quantity)
        direction = Decimal(1) if old > 0 else Decimal(-1)
        realized += closed * (price - state.average_price) * multiplier * direction
        if new == 0:
            average = Decimal(0)
        elif (new > 0) == (old > 0):
            average = state.average_price
        else:
            average = price
    return PositionState(
        quantity=new,
        average_price=average.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
        realized_pnl=realized.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
    )
