"""Desk orders in, and their fills out.

**In.** A trader on the orders page, or an upstream order system over ``POST /api/v1/orders/`` (a desk user with
``rfq.add_deskorder``), enters an order: instrument, side, quantity, a client account *or* one of the desk's books,
an optional limit price and an urgency. :func:`desk_order_enter` checks it field by field (``check``), then asks the
pre-trade check of its entry (:func:`rfq.ports.desk_order_check`, the ``flows.desk_orders`` flow: the book is
known, and the risk limits pass, fat-finger size and price and kill switches included), and only then stores it
``new`` for the next aggregation (``do``). A refusal names every field at fault, stores no order and is audited
(``desk_order.refused``, with what was submitted), as the risk check audits its own refusals.

A limit must be on the tradable side of the **validated price** (:func:`desk_order_price`, the market-health
monitor's, never a caller's number): a buy limited below it, or a sell above it, could be neither crossed nor
filled by a dealer (whose offer is above the mid, whose bid below), and would sit with nothing working it.

**Out.** Every cross and every allocation of a dealer's or an algorithm's fill is a
:class:`~rfq.models.DeskOrderFill` written by :func:`desk_order_fill_record`, which announces ``rfq.desk_order_fill``
in the same transaction: the flow (``flows.desk_orders``) moves the position from the desk's book to the order's
account or book at the fill's price, so that a fill never commits without its position, nor the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.bus import publish
from desk.events import broadcast
from desk.fields import DECIMAL_PLACES, MAX_DIGITS, QUANTUM, decimal_plain
from desk.models import Account, Instrument, InstrumentKind
from rfq.models import (
    RFQ,
    DealerOrder,
    DeskOrder,
    DeskOrderFill,
    Side,
    Urgency,
)
from rfq.ports import DeskOrderTerms, desk_order_check
from rfq.services.common import QuoteRefused
from risk.orders import DEFAULT_BOOK
from risk.reference import validated_price_fresh

DESK_ORDER_FILL = "rfq.desk_order_fill"
CREATE_ACTION = "desk_order.create"
REFUSED_ACTION = "desk_order.refused"
# The largest value a quantity or price column holds (28 digits, 12 after the point).
_COLUMN_LIMIT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)
# The validated price is used to 8 decimals (as an RFQ's arrival mid): every database the desk runs on keeps it
# exactly (SQLite's numeric columns hold about 15 significant digits), so a cross's fills read back as written.
PRICE_QUANTUM = Decimal("1e-8")
# What a refusal's audit keeps of each submitted value: enough to read it, never an unbounded string.
_SUBMITTED_CHARS = 64


class DeskOrderRefused(QuoteRefused):
    """Bad input to a desk-order service. Built from a ``{field: message}`` dict: ``message_dict`` names each
    field at fault, and nothing is stored."""


@dataclass(frozen=True)
class DeskOrderPrice:
    """The price the desk judges a desk order's limit against and crosses it at: the validated price of its
    underlying (quote currency per unit), with where it came from. ``price`` is None when there is none: an option
    (the monitor validates underlyings, not option premiums) or no fresh one (``why`` says which)."""

    price: Decimal | None
    why: str = ""


def instrument_underlying(instrument: Instrument) -> str:
    """The underlying code the market-health monitor validates prices for (``ETH`` for ETH-USD and ETH-PERP)."""
    return instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency


def desk_order_price(*, instrument: Instrument, now: datetime | None = None) -> DeskOrderPrice:
    """The validated price of ``instrument`` now (:func:`risk.reference.validated_price_fresh`): its underlying's
    for a spot or a perpetual instrument; none for an option."""
    if instrument.kind == InstrumentKind.OPTION:
        return DeskOrderPrice(None, f"{instrument.symbol} is an option: no validated price of its own")
    underlying = instrument_underlying(instrument)
    validated = validated_price_fresh(underlying=underlying, now=now or clock.now())
    if validated is None or validated.price is None:
        return DeskOrderPrice(None, f"no fresh price validated by the market-health monitor for {underlying}")
    return DeskOrderPrice(validated.price.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN))


def decimal_problem(value: object, *, name: str, allow_none: bool = False) -> str | None:
    """Why ``value`` is not a usable positive Decimal for column ``name``, or None when it is."""
    if value is None:
        return None if allow_none else f"{name} is required"
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        # Floats carry binary rounding into money and quantities: the boundary converts them, not the service.
        return f"{name} must be a Decimal, got {type(value).__name__}"
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        return f"{name} must be positive, got {decimal_plain(value)}"
    if value >= _COLUMN_LIMIT or value != value.quantize(QUANTUM):
        return f"{name} {decimal_plain(value)} does not fit {MAX_DIGITS} digits with {DECIMAL_PLACES} after the point"
    return None


def _limit_problem(*, side: str, limit_price: Decimal, price: DeskOrderPrice) -> str | None:
    if price.price is None:
        return None
    limit, validated = decimal_plain(limit_price), decimal_plain(price.price)
    if side == Side.BUY and limit_price < price.price:
        return (
            f"a buy limited at {limit} is below the validated price {validated}: nothing could fill it (a buy's "
            "limit goes at or above the validated price)"
        )
    if side == Side.SELL and limit_price > price.price:
        return (
            f"a sell limited at {limit} is above the validated price {validated}: nothing could fill it (a sell's "
            "limit goes at or below the validated price)"
        )
    return None


def _fields_check(
    *,
    account: Account | None,
    book: str,
    instrument: Instrument | None,
    side: str,
    quantity: object,
    limit_price: object,
    urgency: str,
    trader: AbstractBaseUser,
    price: DeskOrderPrice | None,
    now: datetime,
) -> dict[str, str]:
    """Every problem with a new desk order's fields, by field (empty when there is none)."""
    errors: dict[str, str] = {}
    if account is not None and book:
        errors["book"] = "an order is for a client account or for one of the desk's books, not both"
    elif account is None and not book:
        errors["account"] = "name the client account (or the desk's book) the order is for"
    elif account is not None and not account.is_active:
        errors["account"] = f"account {account.code} is not active"
    elif book == DEFAULT_BOOK:
        errors["book"] = f"{DEFAULT_BOOK!r} is the desk's own book, where allocations come from: name another"
    elif len(book) > 32 or book != book.strip():
        errors["book"] = "a book is 1 to 32 characters, without surrounding spaces"
    if instrument is not None:
        if not instrument.is_active:
            errors["instrument"] = f"{instrument.symbol} is not tradable (halted or inactive)"
        elif instrument.expiry is not None and instrument.expiry <= now:
            errors["instrument"] = f"{instrument.symbol} expired at {instrument.expiry.isoformat()}"
    if side not in Side.values:
        errors["side"] = f"side must be one of {', '.join(Side.values)}, got {side!r}"
    if urgency not in Urgency.values:
        errors["urgency"] = f"urgency must be one of {', '.join(Urgency.values)}, got {urgency!r}"
    if not trader.is_active:
        errors["trader"] = f"{trader.get_username()} is not an active user"
    if problem := decimal_problem(quantity, name="quantity"):
        errors["quantity"] = problem
    elif instrument is not None and Decimal(quantity) % instrument.lot_size != 0:  # type: ignore[arg-type]
        errors["quantity"] = f"quantity {quantity} is not a multiple of the lot {decimal_plain(instrument.lot_size)}"
    problem = decimal_problem(limit_price, name="limit_price", allow_none=True)
    if problem is None and limit_price is not None and price is not None and "side" not in errors:
        problem = _limit_problem(side=side, limit_price=Decimal(limit_price), price=price)  # type: ignore[arg-type]
    if problem:
        errors["limit_price"] = problem
    return errors


def _shown(value: object) -> object:
    """A submitted value as the refusal's audit keeps it: numbers and None as they are, anything else as a short
    string."""
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    return str(value)[:_SUBMITTED_CHARS]


def desk_order_refusal_record(*, errors: dict[str, str], submitted: dict[str, Any], actor: Actor, channel: str) -> None:
    """Audit a refused desk order (``desk_order.refused``): the fields at fault and what was submitted, in a
    transaction of its own (a savepoint inside the caller's: the API's idempotent POST commits its 400 with it)."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=REFUSED_ACTION,
            object_type=DeskOrder._meta.label_lower,
            object_id="",
            after={
                "errors": {name: str(problem)[:500] for name, problem in errors.items()},
                "submitted": {name: _shown(value) for name, value in submitted.items()},
                "channel": channel,
            },
        )
        broadcast(event="desk_order.refused", payload={"fields": sorted(errors), "channel": channel})


def _refuse(*, errors: dict[str, str], submitted: dict[str, Any], actor: Actor, channel: str) -> DeskOrderRefused:
    desk_order_refusal_record(errors=errors, submitted=submitted, actor=actor, channel=channel)
    return DeskOrderRefused(errors)


def desk_order_enter(
    *,
    trader: AbstractBaseUser,
    instrument: str,
    side: str,
    quantity: object,
    account: str = "",
    book: str = "",
    limit_price: object = None,
    urgency: str = Urgency.NORMAL,
    channel: str = "api",
) -> DeskOrder:
    """Enter a desk order named by codes (the instrument's symbol, the account's code or the book's name), as the
    page and the API submit it: an unknown instrument or account is refused on its field, like every other check
    of :func:`desk_order_create`, and audited."""
    submitted = {
        "instrument": instrument,
        "side": side,
        "quantity": quantity,
        "account": account,
        "book": book,
        "limit_price": limit_price,
        "urgency": urgency,
    }
    unknown: dict[str, str] = {}
    symbol = (instrument or "").strip()
    found = Instrument.objects.filter(symbol=symbol).first() if symbol else None
    if found is None:
        unknown["instrument"] = f"unknown instrument {symbol!r}" if symbol else "instrument is required"
    code = (account or "").strip()
    client = Account.objects.filter(code=code).first() if code else None
    if code and client is None:
        unknown["account"] = f"unknown account {code!r}"
    if unknown or found is None:
        # The other fields are checked all the same, so that one answer names every field at fault.
        errors = _fields_check(
            account=client,
            book="" if code else (book or ""),
            instrument=found,
            side=side,
            quantity=quantity,
            limit_price=limit_price,
            urgency=urgency,
            trader=trader,
            price=None,
            now=clock.now(),
        )
        if code and book:
            errors["book"] = "an order is for a client account or for one of the desk's books, not both"
        raise _refuse(errors=errors | unknown, submitted=submitted, actor=trader, channel=channel)
    return desk_order_create(
        account=client,
        book=book or "",
        instrument=found,
        side=side,
        quantity=quantity,  # type: ignore[arg-type]
        limit_price=limit_price,  # type: ignore[arg-type]
        urgency=urgency,
        trader=trader,
        channel=channel,
    )


def desk_order_create(
    *,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    limit_price: Decimal | None,
    urgency: str,
    trader: AbstractBaseUser,
    account: Account | None = None,
    book: str = "",
    channel: str = "service",
) -> DeskOrder:
    """A desk order for ``account`` (a client's) or ``book`` (one of the desk's), ``new`` until an aggregation takes
    it; audited ``desk_order.create`` and broadcast.

    Refused with :class:`DeskOrderRefused` naming every field at fault: no account and no book (or both), an
    inactive account, the desk's own book, an inactive or expired instrument, an unknown side or urgency, a quantity
    that is not a positive whole number of lots, a limit that is not positive or is on the wrong side of the
    validated price; then whatever the pre-trade check of the entry refuses (an unknown book, a size or a price
    beyond the fat-finger limits, a halted scope). Nothing is stored then, and the refusal is audited.
    """
    now = clock.now()
    submitted = {
        "instrument": instrument.symbol,
        "side": side,
        "quantity": quantity,
        "account": account.code if account is not None else "",
        "book": book,
        "limit_price": limit_price,
        "urgency": urgency,
    }
    price = desk_order_price(instrument=instrument, now=now)
    errors = _fields_check(
        account=account,
        book=book,
        instrument=instrument,
        side=side,
        quantity=quantity,
        limit_price=limit_price,
        urgency=urgency,
        trader=trader,
        price=price,
        now=now,
    )
    if not errors:
        terms = DeskOrderTerms(
            instrument=instrument,
            side=side,
            quantity=Decimal(quantity),
            book=account.code if account is not None else book,
            book_field="account" if account is not None else "book",
            limit_price=None if limit_price is None else Decimal(limit_price),
            reference_price=price.price,
            trader=trader.get_username(),
        )
        errors = desk_order_check(terms=terms, actor=trader)
    if errors:
        raise _refuse(errors=errors, submitted=submitted, actor=trader, channel=channel)
    with transaction.atomic():
        order = DeskOrder.objects.create(
            account=account,
            book="" if account is not None else book,
            instrument=instrument,
            side=side,
            quantity=Decimal(quantity),
            limit_price=None if limit_price is None else Decimal(limit_price),
            urgency=urgency,
            trader=trader,
        )
        audit_record(
            actor=trader,
            action=CREATE_ACTION,
            obj=order,
            after={
                "account": account.code if account is not None else None,
                "book": order.book or None,
                "instrument": instrument.symbol,
                "side": side,
                "quantity": order.quantity,
                "limit_price": order.limit_price,
                "urgency": urgency,
                "validated_price": price.price,
                "channel": channel,
            },
        )
        # The desk's own screens only; the account stays out of the event all the same (the pages look it up).
        broadcast(
            event="desk_order.created",
            payload={"id": order.pk, "instrument": instrument.symbol, "side": side, "quantity": order.quantity},
        )
    return order


def desk_order_fill_record(
    *,
    order: DeskOrder,
    kind: str,
    quantity: Decimal,
    price: Decimal,
    from_book: str = "",
    rfq: RFQ | None = None,
    dealer_order: DealerOrder | None = None,
    counter_order: DeskOrder | None = None,
    source: str = "",
) -> DeskOrderFill:
    """Record one fill of a locked desk order (call inside the transaction that changes its filled quantity) and
    announce ``rfq.desk_order_fill``: the position moves, in this transaction, from ``from_book`` (the desk's book;
    empty for an internal cross, which the desk's book is no party to) to the order's account or book."""
    fill = DeskOrderFill.objects.create(
        order=order,
        kind=kind,
        side=order.side,
        quantity=quantity,
        price=price,
        from_book=from_book,
        to_book=order.position_book,
        rfq=rfq,
        dealer_order=dealer_order,
        counter_order=counter_order,
        source=source[:80],
    )
    publish(
        DESK_ORDER_FILL,
        fill=fill,
        instrument=order.instrument,
        side=order.side,
        quantity=quantity,
        price=price,
        from_book=from_book,
        to_book=fill.to_book,
    )
    return fill
