"""Delta hedging of a book's options in their underlying: reads the positions, the venue book and the desk's
implied-volatility surface, computes the hedge with :mod:`execution.hedging`, and works it as a short TWAP plan through
the ordinary pre-trade checks.

Volatility
----------
Each option is valued at its own implied volatility, read from the surface the desk fitted to the market's quotes
(:func:`desk.marks.mark_surface`) for its strike and expiry, with the venue book's mid as the underlying price: the
same marks as the quote board, TCA and the risk checks.

Rule and decision record
------------------------
The default rule trades back to mid-band with a minimum trade (:mod:`execution.hedging`: a hedge to the band's edge
invites a string of tiny hedges). Every hedge placed is a ``hedge`` decision record whose inputs are everything the rule
read (the positions with their volatilities, the spot, the rate, the band, the hedge lot): :func:`hedge_compute`, its
replayer, recomputes the order from them.

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

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record, json_normalize
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.market import SECONDS_PER_YEAR, NoVenue, StaleBook, venue_book_check_fresh, venue_books_ensure
from desk.marks import mark_surface
from desk.models import DecisionKind, Instrument, InstrumentKind, OptionType
from desk.surface import MarkSurface

# A module reference: the hedging task runs this module's delta_hedge_book, and this module queues the task.
from execution import hedging_tasks, selectors
from execution.errors import ExecutionRefused
from execution.hedging import HEDGE_TARGETS, HedgeBand, HedgeTarget, OptionPositions, book_greeks, hedge_order
from execution.models import Algorithm, ExecutionPlan, Position
from execution.services import OPEN_PLAN_STATES, plan_create, plan_start

logger = logging.getLogger(__name__)

HEDGE_PURPOSE = "delta_hedge"
HEDGE_EVENT = "hedge.delta"
# A band of 1 coin by default: about 0.1 % of a 1 000 BTC book's notional, and ten times the usual perp lot.
DEFAULT_BAND_COINS = Decimal(1)
DEFAULT_TARGET = "inside"
# Back to mid-band, and never less than a tenth of the band (0.1 coin with the default band).
DEFAULT_INSIDE_FRACTION = Decimal("0.5")
DEFAULT_MIN_TRADE_FRACTION = Decimal("0.1")
DEFAULT_HORIZON_S = 2
DEFAULT_SLICES = 2


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


def book_positions(*, book: str, underlying: str, now: datetime) -> tuple[list[Position], Decimal]:
    """The book's live option positions on ``underlying`` and its spot and perpetual position in coins. Expired
    options are left out: they settle in cash and carry no delta."""
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
    return options, linear


def hedge_inputs(
    *,
    book: str,
    underlying: str,
    now: datetime,
    spot: Decimal,
    surface: MarkSurface,
    instrument: Instrument,
    band_coins: Decimal | None,
    band_fraction: Decimal | None,
    target: str,
    inside_fraction: Decimal,
    min_trade_fraction: Decimal,
) -> dict[str, Any]:
    """Everything :func:`hedge_compute` reads, JSON-ready (stored with the hedge's decision record): each live option
    position with its implied volatility from ``surface``, the linear position, the spot, the rate, the band and the
    hedge instrument's lot."""
    options, linear = book_positions(book=book, underlying=underlying, now=now)
    rows = []
    for position in options:
        option = position.instrument
        t_years = (option.expiry - now).total_seconds() / SECONDS_PER_YEAR
        strike = float(option.strike or 0)
        vol = float(surface.vol(spot=float(spot), strike=strike, t_years=t_years)) if strike > 0 else 0.0
        rows.append(
            {
                "instrument": option.symbol,
                "quantity": float(position.quantity),
                "multiplier": float(option.multiplier),
                "strike": strike,
                "t_years": t_years,
                "kind": "call" if option.option_type == OptionType.CALL else "put",
                "vol": vol,
            }
        )
    return json_normalize(
        {
            "book": book,
            "underlying": underlying,
            "as_of": now.isoformat(),
            "spot": float(spot),
            "rate": surface.rate,
            "surface": {"id": surface.surface_id, "source": surface.source, **surface.parameters.as_dict()},
            "options": rows,
            "linear_coins": float(linear),
            "band": {
                "coins": None if band_coins is None else float(band_coins),
                "fraction": None if band_fraction is None else float(band_fraction),
                "target": target,
                "inside_fraction": float(inside_fraction),
                "min_trade_fraction": float(min_trade_fraction),
            },
            "hedge": {
                "instrument": instrument.symbol,
                "lot_size": instrument.lot_size,
                "multiplier": instrument.multiplier,
            },
        }
    )


def _band(band: dict[str, Any], notional_coins: float) -> HedgeBand:
    rule = cast(HedgeTarget, band["target"])
    if band["fraction"] is not None:
        return HedgeBand.of_notional(
            float(band["fraction"]),
            notional_coins,
            target=rule,
            inside_fraction=float(band["inside_fraction"]),
            min_trade_fraction=float(band["min_trade_fraction"]),
        )
    coins = float(DEFAULT_BAND_COINS if band["coins"] is None else band["coins"])
    return HedgeBand(
        threshold_coins=coins,
        target=rule,
        inside_fraction=float(band["inside_fraction"]),
        min_trade_coins=float(band["min_trade_fraction"]) * coins,
    )


def hedge_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """The hedge from stored inputs (the ``hedge`` decisions' replayer): the book's greeks, the band, and the order
    (None inside the band), its quantity in the hedge instrument's contracts.

    Raises
    ------
    ValueError
        A band the hedge lot cannot hold, or settings out of range.
    """
    options = inputs["options"]
    positions = OptionPositions.of(
        quantity=[o["quantity"] for o in options],
        multiplier=[o["multiplier"] for o in options],
        strike=[o["strike"] for o in options],
        t_years=[o["t_years"] for o in options],
        is_call=[o["kind"] == "call" for o in options],
        vol=[o["vol"] for o in options],
    )
    greeks = book_greeks(
        positions, linear_coins=float(inputs["linear_coins"]), spot=float(inputs["spot"]), rate=float(inputs["rate"])
    )
    band = _band(inputs["band"], positions.notional_coins)
    hedge = inputs["hedge"]
    lot, multiplier = Decimal(str(hedge["lot_size"])), Decimal(str(hedge["multiplier"]))
    order = hedge_order(greeks.delta, band=band, lot_coins=float(lot * multiplier))
    out: dict[str, Any] = {
        "net_delta_before": round(greeks.delta, 9),
        "option_delta": round(greeks.option_delta, 9),
        "linear_delta": round(greeks.linear_delta, 9),
        "gamma": round(greeks.gamma, 12),
        "band_coins": round(band.threshold_coins, 9),
        "target_rule": band.target,
        "min_trade_coins": round(band.min_trade_coins, 9),
        "target": round(band.target_coins, 9),
        "order": None,
        "net_delta_after": round(greeks.delta, 9),
    }
    if order is not None:
        out["target"] = round(order.target, 9)
        out["net_delta_after"] = round(order.delta_after, 9)
        out["order"] = {
            "instrument": hedge["instrument"],
            "side": order.side,
            "lots": order.lots,
            "quantity": order.lots * lot,
            "coins": round(order.coins, 9),
        }
    return json_normalize(out)


decision_replayer_register(DecisionKind.HEDGE, hedge_compute)


def _explain(output: dict[str, Any]) -> str:
    order = output["order"]
    return (
        f"net delta {output['net_delta_before']:+.4f} coins outside the ±{output['band_coins']:g} band: "
        f"{order['side']} {order['quantity']} {order['instrument']} to {output['net_delta_after']:+.4f} "
        f"(rule {output['target_rule']}, target {output['target']:+.4f}, minimum trade {output['min_trade_coins']:g})"
    )


def delta_hedge_book(
    *,
    book: str,
    underlying: str,
    actor: Actor,
    band_coins: Decimal | None = None,
    band_fraction: Decimal | None = None,
    target: str = DEFAULT_TARGET,
    inside_fraction: Decimal = DEFAULT_INSIDE_FRACTION,
    min_trade_fraction: Decimal = DEFAULT_MIN_TRADE_FRACTION,
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
    target : {'inside', 'edge', 'zero'}
        Trade back inside the band (default), to its edge or to zero; see :mod:`execution.hedging`.
    inside_fraction : Decimal
        With ``target="inside"``, the target as a fraction of the band (mid-band by default).
    min_trade_fraction : Decimal
        The smallest hedge as a fraction of the band.
    horizon_s, slices : int
        The hedge TWAP's horizon (seconds) and number of children.

    Returns
    -------
    ExecutionPlan or None
        The running hedge plan (tagged ``purpose=delta_hedge``, a ``hedge`` decision record, audited and broadcast as
        ``hedge.delta`` with the net delta before, the target and the order), or None.

    Raises
    ------
    ExecutionRefused
        No hedge instrument, a stale venue book, a band the hedge lot cannot hold, or the plan's own refusals.
    ExecutionPermissionDenied
        The actor may not create or start plans.
    """
    if not isinstance(actor, AbstractBaseUser):
        raise ExecutionRefused("a hedge plan is created for a person (its trader), not a system actor")
    if target not in HEDGE_TARGETS:
        raise ExecutionRefused({"target": f"target must be one of {', '.join(HEDGE_TARGETS)}, not {target!r}"})
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
        inputs = hedge_inputs(
            book=book,
            underlying=underlying,
            now=now,
            spot=row.mid,
            surface=mark_surface(underlying),
            instrument=instrument,
            band_coins=band_coins,
            band_fraction=band_fraction,
            target=target,
            inside_fraction=inside_fraction,
            min_trade_fraction=min_trade_fraction,
        )
        try:
            output = hedge_compute(inputs)
        except ValueError as error:
            raise ExecutionRefused({"band": str(error)}) from None
        order = output["order"]
        if order is None:
            return None
        plan = plan_create(
            instrument=instrument,
            side=order["side"],
            quantity=Decimal(order["quantity"]),
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
        surface = inputs["surface"]
        record = decision_record(
            kind=DecisionKind.HEDGE,
            actor=actor,
            obj=plan,
            inputs=inputs,
            output=output,
            explanation=_explain(output),
            model_versions={"vol_surface": surface["id"], "vol_surface_source": surface["source"], "rule": target},
        )
        summary = {
            "book": book,
            "underlying": underlying,
            "spot": inputs["spot"],
            "rate": inputs["rate"],
            "vol_surface": surface["id"],
            "decision": record.pk,
        } | {key: value for key, value in output.items() if key != "order"}
        summary["order"] = {"instrument": order["instrument"], "side": order["side"], "quantity": order["quantity"]}
        audit_record(actor=actor, action=HEDGE_EVENT, obj=plan, after=summary | {"lots": order["lots"]})
        broadcast(event=HEDGE_EVENT, payload=summary | {"plan": plan.pk})
    return plan


def delta_hedge_after_fill(*, instrument: Instrument, book: str, trader: Actor) -> bool:
    """Queue a delta hedge of ``book`` on the instrument's underlying after an options fill, when the surrounding
    transaction commits. Fills of anything but an option, and fills without a person to own the hedge, queue
    nothing. Returns whether a hedge check was queued."""
    if instrument.kind != InstrumentKind.OPTION or not isinstance(trader, AbstractBaseUser):
        return False
    hedging_tasks.delta_hedge.delay_on_commit(book, instrument.base_currency, trader.get_username())
    return True
