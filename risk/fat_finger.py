"""The fat-finger guards: a maximum quantity and notional per order and a price collar that hold with no limit set.

Their thresholds come from ``settings.RISK_FAT_FINGER`` and from the instrument; a limit row of the same kind
(:class:`risk.models.Limit`) only tightens them, never widens them (the tighter of the two applies):

- ``max_order_notional``: ``RISK_FAT_FINGER["max_order_notional"]``, quote currency, per order (an RFQ leg, a
  plan, a child order, an acceptance).
- ``max_order_quantity``: ``RISK_FAT_FINGER["daily_volume_fraction"]`` of the underlying's day's volume
  (:attr:`desk.market.UnderlyingReference.daily_volume`, coins) over the contract multiplier, where the desk knows
  that volume; ``RISK_FAT_FINGER["max_order_quantity"]`` contracts where it does not.
- ``price_collar_bps``: ``RISK_FAT_FINGER["price_collar_bps"]`` around a market mid, widened by volatility as a
  collar limit is (:func:`risk.checks.collar_band_bps`). It guards the orders the desk prices itself against the
  market (child orders on the venues, and a plan's worst price when it is created); an option's mid is the desk's
  model price, not a market's, and a dealer's quote is the dealer's price: neither gets the default collar (a
  collar limit a risk officer sets still applies to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from desk.fields import to_decimal
from desk.market import NoVenue, underlying_reference
from risk.checks import MAX_ORDER_NOTIONAL, MAX_ORDER_QUANTITY, PRICE_COLLAR_BPS

# The scope a default threshold is reported under (a refusal names it, with the instrument as its key).
DEFAULT_SCOPE = "default"
FAT_FINGER_KINDS = (PRICE_COLLAR_BPS, MAX_ORDER_NOTIONAL, MAX_ORDER_QUANTITY)


@dataclass(frozen=True)
class DefaultLimit:
    """A fat-finger threshold in force without a limit row: ``value`` in the kind's unit, ``basis`` says where it
    comes from (the setting, or the day's volume it is a share of)."""

    kind: str
    value: Decimal
    scope_key: str
    basis: str
    scope: str = DEFAULT_SCOPE

    @property
    def label(self) -> str:
        return f"default for {self.scope_key}: {self.basis}"


def _plain(value: Decimal) -> str:
    """20000, not 2E+4; 0.25, not 0.250000000000."""
    return format(value.normalize(), "f")


def _setting(name: str) -> Decimal:
    return to_decimal(settings.RISK_FAT_FINGER[name])


def fat_finger_defaults(
    *, instrument: str, underlying: str, multiplier: Decimal, collar: bool
) -> dict[str, DefaultLimit]:
    """The default thresholds of an order on ``instrument`` (kind → threshold); the collar only when ``collar``
    (the order's price is set against a market mid, see the module's note)."""
    defaults = {
        MAX_ORDER_NOTIONAL: DefaultLimit(
            MAX_ORDER_NOTIONAL,
            _setting("max_order_notional"),
            instrument,
            "settings RISK_FAT_FINGER max_order_notional",
        )
    }
    fraction = _setting("daily_volume_fraction")
    try:
        day_volume = to_decimal(underlying_reference(underlying).daily_volume)
    except NoVenue:
        quantity = DefaultLimit(
            MAX_ORDER_QUANTITY,
            _setting("max_order_quantity"),
            instrument,
            f"settings RISK_FAT_FINGER max_order_quantity (no day's volume known for {underlying})",
        )
    else:
        per_contract = "" if multiplier == 1 else f" ÷ multiplier {_plain(multiplier)}"
        quantity = DefaultLimit(
            MAX_ORDER_QUANTITY,
            to_decimal(fraction * day_volume / multiplier),
            instrument,
            f"{_plain(fraction)} × the {underlying} day's volume of {_plain(day_volume)}{per_contract}",
        )
    defaults[MAX_ORDER_QUANTITY] = quantity
    if collar:
        defaults[PRICE_COLLAR_BPS] = DefaultLimit(
            PRICE_COLLAR_BPS,
            _setting("price_collar_bps"),
            instrument,
            "settings RISK_FAT_FINGER price_collar_bps",
        )
    return defaults
