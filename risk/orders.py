"""What the pre-trade check is asked about: a proposed order and the market state it would trade into.

These are the Decimal side of the boundary. :func:`order_state` converts them, explicitly, to the floats of the
pure checks in :mod:`risk.checks`. The caller (a child order, an RFQ acceptance, a hedge) fills in the market state
from the validated feed and its books; the risk service does not guess it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.checks import OrderState

BUY = "buy"
SELL = "sell"
# Position.book defaults to "desk": an order or plan that names no book belongs to it.
DEFAULT_BOOK = "desk"


@dataclass(frozen=True)
class MarketState:
    """The state an order would trade into.

    Attributes
    ----------
    mid : Decimal or None
        Validated reference mid, quote currency per contract unit; None when there is no valid one (the price
        collar then refuses).
    position : Decimal
        Signed position of the book in the instrument before the order, contracts (+ long, - short). Include
        what is already on its way (sent, unfilled) when the caller knows it.
    recent_volume : Decimal
        Market volume in the participation window (the last 5 minutes by default), contracts.
    realized_pnl_today : Decimal
        Realized P&L of the book since 00:00 UTC, quote currency (negative: a loss).
    unrealized_pnl_today : Decimal
        Mark-to-market P&L of the book's open positions since 00:00 UTC, quote currency.
    volatility_ratio : Decimal
        Realized volatility over its reference level (1 calm, 2 doubled); drives the dynamic position limit and
        the collar width.
    dealer_exposure : Decimal or None
        Notional already exposed to the order's dealer (open dealer orders plus today's fills, and the legs of the
        same package checked before this one), quote currency; None for an order to no dealer.
    """

    mid: Decimal | None
    position: Decimal = Decimal(0)
    recent_volume: Decimal = Decimal(0)
    realized_pnl_today: Decimal = Decimal(0)
    unrealized_pnl_today: Decimal = Decimal(0)
    volatility_ratio: Decimal = Decimal(1)
    dealer_exposure: Decimal | None = None

    @property
    def pnl_today(self) -> Decimal:
        """Realized plus unrealized P&L today, quote currency."""
        return self.realized_pnl_today + self.unrealized_pnl_today


@dataclass(frozen=True)
class ProposedOrder:
    """An order about to leave the desk.

    Attributes
    ----------
    book : str
        The book it trades for (:data:`DEFAULT_BOOK` when the desk has one book).
    trader : str
        Username of the trader responsible for it.
    instrument : str
        Instrument symbol, e.g. ``"BTC-PERP"``.
    underlying : str
        Underlying code, the instrument's base currency as the market simulator names it, e.g. ``"BTC"``.
    side : str
        ``"buy"`` or ``"sell"`` (the desk's side).
    quantity : Decimal
        Contracts, > 0.
    limit_price : Decimal
        Quote currency per contract unit, > 0.
    market : MarketState
        The state used by the checks.
    multiplier : Decimal
        Units of base currency per contract (notional = quantity × price × multiplier).
    reference : str
        What the order is (a child order's client order id, an RFQ reference, a hedge id): names it in the audit.
    strategy : str
        The strategy it trades for; empty: its book (a book without named strategies is one strategy).
    dealer : str
        The dealer's code when the order goes to a dealer (an RFQ acceptance); empty otherwise.
    mid_is_underlying : bool
        True when ``market.mid`` is on the underlying's price scale (spot, perpetuals): the monitor's validated
        price then replaces it. False for an option, whose mid the caller prices: the validated price is still
        required fresh, but the collar stays on the caller's mid.
    counts_toward_rate : bool
        False for the legs of one dealer order but the last: an acceptance is one order for the order-rate limit.
    off_venue : bool
        True for an order the desk trades off the venues without a dealer named yet (a desk order entering the desk:
        it is crossed internally or asked of dealers): the venues' participation cap does not concern it.
    """

    book: str
    trader: str
    instrument: str
    underlying: str
    side: str
    quantity: Decimal
    limit_price: Decimal
    market: MarketState
    multiplier: Decimal = Decimal(1)
    reference: str = ""
    strategy: str = ""
    dealer: str = ""
    mid_is_underlying: bool = True
    counts_toward_rate: bool = True
    off_venue: bool = False

    @property
    def signed_quantity(self) -> Decimal:
        """Contracts, + for a buy and - for a sell."""
        return self.quantity if self.side == BUY else -self.quantity


def order_state(order: ProposedOrder) -> OrderState:
    """The floats the pure checks take. ``float(Decimal)`` rounds to the nearest double (about 16 significant
    digits): far finer than any limit, and the checks compare with a relative tolerance anyway."""
    market = order.market
    return OrderState(
        side_sign=1.0 if order.side == BUY else -1.0,
        quantity=float(order.quantity),
        price=float(order.limit_price),
        multiplier=float(order.multiplier),
        mid=float(market.mid) if market.mid is not None else float("nan"),
        position=float(market.position),
        recent_volume=float(market.recent_volume),
        pnl_today=float(market.pnl_today),
        volatility_ratio=float(market.volatility_ratio),
        dealer_exposure=float(market.dealer_exposure) if market.dealer_exposure is not None else float("nan"),
    )


@dataclass(frozen=True)
class OrderSize:
    """An order as it is created, before it has a price of its own: an RFQ leg (no price: dealers will quote it) or
    an execution plan (its worst price, the mid through its maximum slippage). What the fat-finger guards check.

    Attributes
    ----------
    book, trader, instrument, underlying, side, quantity, multiplier, reference, strategy
        As in :class:`ProposedOrder`.
    mid : Decimal or None
        The market's mid, quote currency per contract unit; None without a market (the notional is then not
        checked: there is no price to value the order at).
    limit_price : Decimal or None
        The worst price the order may trade at, same unit; None for an RFQ (the notional is then valued at ``mid``
        and no collar applies).
    volatility_ratio : Decimal
        As in :class:`MarketState` (widens the collar).
    mid_is_underlying : bool
        As in :class:`ProposedOrder`: False for an option, whose mid is a model price (no default collar).
    """

    book: str
    trader: str
    instrument: str
    underlying: str
    side: str
    quantity: Decimal
    multiplier: Decimal = Decimal(1)
    mid: Decimal | None = None
    limit_price: Decimal | None = None
    volatility_ratio: Decimal = Decimal(1)
    mid_is_underlying: bool = True
    reference: str = ""
    strategy: str = ""

    @property
    def price(self) -> Decimal | None:
        """The price the order is valued at: its limit price, else the mid (None when neither is known)."""
        return self.limit_price if self.limit_price is not None else self.mid


def order_size_state(order: OrderSize) -> OrderState:
    """The floats of the pure checks; NaN for an unknown price or mid."""
    nan = float("nan")
    return OrderState(
        side_sign=1.0 if order.side == BUY else -1.0,
        quantity=float(order.quantity),
        price=float(order.price) if order.price is not None else nan,
        multiplier=float(order.multiplier),
        mid=float(order.mid) if order.mid is not None else nan,
        volatility_ratio=float(order.volatility_ratio),
    )
