"""Delta hedging of a book's options in their underlying: reads the positions and the venue book, computes the hedge
with :mod:`execution.hedging`, and works it as a short TWAP plan through the ordinary pre-trade checks.

Volatility
----------
Options are valued at one flat volatility per underlying, the venue book's ``volatility``
(:class:`~desk.models.VenueBook`). The implied-volatility surface (:func:`desk.pricing.surface_vol`) is a
pure function, but its level, the short-end ATM volatility, is state of the in-memory simulator held by the market
service process and is not written to the database; the surface cannot be evaluated from a Celery worker without
it. A flat volatility mis-states the delta of options far from the money (the skew would move it); the pure module
takes one volatility per option, so the surface can be plugged in once its level is stored with the venue book.

Idempotency
-----------
One hedge per book and underlying at a time: while a plan tagged ``parameters["purpose"] == "delta_hedge"`` for
the book and underlying is open (draft, running, paused, or halted and waiting for a person), no other is created.
The check and the creation run in one transaction that first locks the hedge instrument's row, so two workers
(beat and a post-fill trigger) cannot both see "no hedge running" and stack two.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.fields import to_decimal
from desk.market import RATE, SECONDS_PER_YEAR, NoVenue, StaleBook, venue_book_check_fresh, venue_books_ensure
from desk.models import Instrument, InstrumentKind, OptionType

# A module reference: the hedging task runs this module's delta_hedge_book, and this module queues the task.
from execution import hedging_tasks, selectors
from execution.errors import ExecutionRefused
from execution.hedging import (
    HEDGE_TARGETS,
    BookGreeks,
    HedgeBand,
    HedgeOrder,
    HedgeTarget,
    OptionPositions,
    book_greeks,
    hedge_order,
)
from execution.models import Algorithm, ExecutionPlan, Position
from execution.services import OPEN_PLAN_STATES, plan_create, plan_start

logger = logging.getLogger(__name__)

HEDGE_PURPOSE = "delta_hedge"
HEDGE_EVENT = "hedge.delta"
# A band of 1 coin by default: about 0.1 % of a 1 000 BTC book's notional, and ten times the usual perp lot.
DEFAULT_BAND_COINS = Decimal(1)
DEFAULT_HORIZON_S = 2
DEFAULT_SLICES = 2
_RATE = RATE


def hedge_instrument_for(*, underlying: str) -> Instrument:
    """The instrument that hedges ``underlying``: its active perpetual (cheapest to carry and the deepest market),
    else its spot; the lowest id on a tie. Raises :class:`ExecutionRefused` when there is neither."""
    for kind in (InstrumentKind.PERPETUAL, InstrumentKind.SPOT):
        instrument = (
            Instrument.objects.filter(kind=kind, base_currency=underlying, is_active=True).order_by("pk").first()
        )
        if instrument is not None:
            return instrument
    raise ExecutionRefused({"underlying": f"no active perpetual or spot instrument hedges {underlying}"})


def hedge_running(*, book: str, underlying: str) -> ExecutionPlan | None:
    """The open delta-hedge plan of the book on the underlying, if any."""
    return (
        ExecutionPlan.objects.filter(
            status__in=OPEN_PLAN_STATES,
            instrument__base_currency=underlying,
            parameters__purpose=HEDGE_PURPOSE,
            parameters__book=book,
        )
        .order_by("pk")
        .first()
    )


def book_positions(*, book: str, underlying: str, now: datetime, vol: float) -> tuple[OptionPositions, float]:
    """The book's live options on ``underlying`` (all at volatility ``vol``) and its spot and perpetual position in
    coins. Expired options are left out: they settle in cash and carry no delta."""
    positions = list(
        Position.objects.filter(book=book, instrument__base_currency=underlying)
        .exclude(quantity=0)
        .select_related("instrument")
        .order_by("pk")
    )
    linear = sum(
        (p.quantity * p.instrument.multiplier for p in positions if p.instrument.kind != InstrumentKind.OPTION),
        Decimal(0),
    )
    options = [
        p
        for p in positions
        if p.instrument.kind == InstrumentKind.OPTION and p.instrument.expiry and p.instrument.expiry > now
    ]
    option_positions = OptionPositions.of(
        quantity=[float(p.quantity) for p in options],
        multiplier=[float(p.instrument.multiplier) for p in options],
        strike=[float(p.instrument.strike or 0) for p in options],
        t_years=[(p.instrument.expiry - now).total_seconds() / SECONDS_PER_YEAR for p in options],
        is_call=[p.instrument.option_type == OptionType.CALL for p in options],
        vol=np.full(len(options), vol),
    )
    return option_positions, float(linear)


def _band(band_coins: Decimal | None, band_fraction: Decimal | None, target: str, notional_coins: float) -> HedgeBand:
    if target not in HEDGE_TARGETS:
        raise ExecutionRefused({"target": f"target must be one of {', '.join(HEDGE_TARGETS)}, not {target!r}"})
    rule = cast(HedgeTarget, target)
    try:
        if band_fraction is not None:
            return HedgeBand.of_notional(float(band_fraction), notional_coins, target=rule)
        coins = DEFAULT_BAND_COINS if band_coins is None else band_coins
        return HedgeBand(threshold_coins=float(coins), target=rule)
    except ValueError as error:
        raise ExecutionRefused({"band": str(error)}) from None


def _record(
    *,
    book: str,
    underlying: str,
    spot: Decimal,
    vol: Decimal,
    greeks: BookGreeks,
    band: HedgeBand,
    instrument: Instrument,
    order: HedgeOrder,
    quantity: Decimal,
) -> dict[str, Any]:
    return {
        "book": book,
        "underlying": underlying,
        "spot": spot,
        "vol": vol,
        "rate": to_decimal(_RATE),
        "net_delta_before": to_decimal(round(greeks.delta, 9)),
        "option_delta": to_decimal(round(greeks.option_delta, 9)),
        "linear_delta": to_decimal(round(greeks.linear_delta, 9)),
        "gamma": to_decimal(round(greeks.gamma, 12)),
        "band_coins": to_decimal(round(band.threshold_coins, 9)),
        "target_rule": band.target,
        "target": to_decimal(round(order.target, 9)),
        "net_delta_after": to_decimal(round(order.delta_after, 9)),
        "order": {"instrument": instrument.symbol, "side": order.side, "quantity": quantity},
    }


def delta_hedge_book(
    *,
    book: str,
    underlying: str,
    actor: Actor,
    band_coins: Decimal | None = None,
    band_fraction: Decimal | None = None,
    target: str = "edge",
    horizon_s: int = DEFAULT_HORIZON_S,
    slices: int = DEFAULT_SLICES,
) -> ExecutionPlan | None:
    """Hedge the book's net delta on ``underlying`` when it is outside the band: a running TWAP plan on the
    perpetual (or spot), or None when no hedge is needed or one is already open.

    Parameters
    ----------
    book : str
        The book whose positions are hedged; the hedge fills are booked to it.
    underlying : str
        Underlying code, e.g. ``"BTC"``.
    actor : User
        The trader the plan is created for (a plan belongs to a person; see :func:`execution.services.plan_create`).
    band_coins : Decimal, optional
        Half-width of the no-trade band, coins (default :data:`DEFAULT_BAND_COINS`).
    band_fraction : Decimal, optional
        Instead, a band of this fraction of the options' gross notional (coins).
    target : {'edge', 'zero'}
        Trade back to the band edge (default) or to zero; see :mod:`execution.hedging`.
    horizon_s, slices : int
        The hedge TWAP's horizon (seconds) and number of children.

    Returns
    -------
    ExecutionPlan or None
        The running hedge plan (tagged ``purpose=delta_hedge``, audited and broadcast as ``hedge.delta`` with the
        net delta before, the target and the order), or None.

    Raises
    ------
    ExecutionRefused
        No hedge instrument, a stale venue book, a band the hedge lot cannot hold, or the plan's own refusals.
    ExecutionPermissionDenied
        The actor may not create or start plans.
    """
    if not isinstance(actor, AbstractBaseUser):
        raise ExecutionRefused("a hedge plan is created for a person (its trader), not a system actor")
    instrument = hedge_instrument_for(underlying=underlying)
    now = clock.now()
    try:
        venue_books_ensure(underlying=underlying, now=now)
    except NoVenue as error:
        raise ExecutionRefused({"underlying": str(error)}) from None
    with transaction.atomic():
        # Serializes hedgers of this instrument: the running-hedge check below and the creation commit together.
        Instrument.objects.select_for_update().filter(pk=instrument.pk).first()
        if hedge_running(book=book, underlying=underlying) is not None:
            return None
        row = selectors.venue_books(underlying=underlying)[0]
        try:
            venue_book_check_fresh(row, now=now)
        except StaleBook as error:
            raise ExecutionRefused({"underlying": str(error)}) from None
        options, linear_coins = book_positions(book=book, underlying=underlying, now=now, vol=float(row.volatility))
        greeks = book_greeks(options, linear_coins=linear_coins, spot=float(row.mid), rate=_RATE)
        band = _band(band_coins, band_fraction, target, options.notional_coins)
        lot = instrument.lot_size
        try:
            order = hedge_order(greeks.delta, band=band, lot_coins=float(lot * instrument.multiplier))
        except ValueError as error:
            raise ExecutionRefused({"band": str(error)}) from None
        if order is None:
            return None
        quantity = order.lots * lot
        plan = plan_create(
            instrument=instrument,
            side=order.side,
            quantity=quantity,
            algorithm=Algorithm.TWAP,
            parameters={
                "book": book,
                "purpose": HEDGE_PURPOSE,
                "underlying": underlying,
                "horizon_s": horizon_s,
                "slices": slices,
            },
            actor=actor,
        )
        plan = plan_start(plan_id=plan.pk, actor=actor)
        inputs = _record(
            book=book,
            underlying=underlying,
            spot=row.mid,
            vol=row.volatility,
            greeks=greeks,
            band=band,
            instrument=instrument,
            order=order,
            quantity=quantity,
        )
        audit_record(actor=actor, action=HEDGE_EVENT, obj=plan, after=inputs | {"lots": order.lots})
        broadcast(event=HEDGE_EVENT, payload=inputs | {"plan": plan.pk})
    return plan


def delta_hedge_after_fill(*, instrument: Instrument, book: str, trader: Actor) -> bool:
    """Queue a delta hedge of ``book`` on the instrument's underlying after an options fill, when the surrounding
    transaction commits. Fills of anything but an option, and fills without a person to own the hedge, queue
    nothing. Returns whether a hedge check was queued."""
    if instrument.kind != InstrumentKind.OPTION or not isinstance(trader, AbstractBaseUser):
        return False
    hedging_tasks.delta_hedge.delay_on_commit(book, instrument.base_currency, trader.get_username())
    return True
