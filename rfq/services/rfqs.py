"""The RFQ lifecycle on the desk side: create a draft, send it to dealers, widen it to more dealers, ask them again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from desk.audit import Actor, actor_label, audit_record
from desk.events import broadcast
from desk.fields import to_decimal
from desk.models import Instrument, InstrumentKind
from rfq.engine.market import NoMarket, instrument_reference_mid, package_leg, rfq_market
from rfq.models import (
    RFQ,
    Connectivity,
    Counterparty,
    CounterpartyStatus,
    DeskOrder,
    PackageType,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQLeg,
    RFQStatus,
    Side,
    TradingMode,
)
from rfq.packages import package_legs_check
from rfq.services.common import OPEN_RFQ_STATES, QuoteRefused, notify_gateway, utcnow
from risk.orders import DEFAULT_BOOK
from risk.selectors import kill_switches_engaged_for
from risk.services import GuardReport, OrderSize, fat_finger_check


@dataclass(frozen=True)
class LegInput:
    instrument: Instrument
    side: str
    quantity: Decimal
    ratio: int = 1


def _legs_tradable(*, legs: list[LegInput], now: datetime, package_type: str | None = None) -> None:
    """Refuse (naming the leg) an inactive, expired or halted instrument, and a package whose legs do not make it."""
    for number, leg in enumerate(legs, start=1):
        instrument = leg.instrument
        if not instrument.is_active:
            raise QuoteRefused(f"leg {number}: {instrument.symbol} is not tradable")
        if instrument.expiry is not None and instrument.expiry <= now:
            raise QuoteRefused(f"leg {number}: {instrument.symbol} expired at {instrument.expiry.isoformat()}")
        underlying = instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency
        halted = kill_switches_engaged_for(
            scopes=[("firm", ""), ("desk", ""), ("underlying", underlying), ("instrument", instrument.symbol)]
        )
        if halted:
            switch = halted[0]
            raise QuoteRefused(
                f"leg {number}: {instrument.symbol} is halted ({switch.scope} kill switch"
                f"{' ' + switch.scope_key if switch.scope_key else ''} engaged)"
            )
    if package_type is not None:
        described = [
            package_leg(
                RFQLeg(leg_no=n, instrument=leg.instrument, side=leg.side, ratio=leg.ratio, quantity=leg.quantity),
                now=now,
            )
            for n, leg in enumerate(legs, start=1)
        ]
        errors = package_legs_check(package_type, described)
        if errors:
            raise QuoteRefused(f"inconsistent {package_type} package: " + "; ".join(errors))


def _leg_size(*, number: int, leg: LegInput, actor: Actor, now: datetime) -> OrderSize:
    instrument = leg.instrument
    per_contract = instrument_reference_mid(instrument, now=now)
    mid = (
        None if per_contract is None or per_contract <= 0 else to_decimal(per_contract) / Decimal(instrument.multiplier)
    )
    underlying = instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency
    return OrderSize(
        book=DEFAULT_BOOK,
        trader=str(getattr(actor, "username", "") or actor_label(actor)),
        instrument=instrument.symbol,
        underlying=underlying,
        side=leg.side,
        quantity=leg.quantity,
        multiplier=Decimal(instrument.multiplier),
        mid=mid,
        mid_is_underlying=instrument.kind != InstrumentKind.OPTION,
        reference=f"rfq-ticket/L{number}",
    )


def rfq_legs_guard(*, legs: list[LegInput], actor: Actor) -> list[tuple[int, GuardReport]]:
    """The fat-finger guards on each leg of a new RFQ (:func:`risk.services.fat_finger_check`: its quantity, and
    its notional at the market's mid), every leg of a package included: ``(leg number, report)`` of each refused
    leg, none when all pass. Each refusal is audited (``risk.refused``) in its own transaction: call it before the
    transaction that creates the RFQ, so that the audit outlives the refusal."""
    now = utcnow()
    refused = []
    for number, leg in enumerate(legs, start=1):
        report = fat_finger_check(order=_leg_size(number=number, leg=leg, actor=actor, now=now), actor=actor)
        if not report.passed:
            refused.append((number, report))
    return refused


def rfq_create(
    *,
    legs: list[LegInput],
    actor: Any,
    package_type: str = PackageType.SINGLE,
    expires_in: timedelta = timedelta(seconds=60),
    orders: tuple[DeskOrder, ...] = (),
    disclosed: bool = False,
    mode: str = TradingMode.MANUAL,
    risk_aversion: float = 0.05,
    allow_legging: bool = False,
) -> RFQ:
    """A draft RFQ with its legs. Quantities must be whole lots of their instrument. In automatic ``mode`` the desk
    acts on its own recommendations within the risk officer's limits (:mod:`rfq.engine.auto`)."""
    if mode not in TradingMode.values:
        raise QuoteRefused(f"mode must be one of {', '.join(TradingMode.values)}")
    if not (risk_aversion >= 0):
        raise QuoteRefused("risk_aversion must be zero or more")
    if not legs:
        raise QuoteRefused("an RFQ needs at least one leg")
    if package_type == PackageType.SINGLE and len(legs) != 1:
        raise QuoteRefused("a single-instrument RFQ has exactly one leg")
    if package_type != PackageType.SINGLE and len(legs) < 2:
        raise QuoteRefused(f"a {package_type} package needs at least two legs")
    if not timedelta(seconds=5) <= expires_in <= timedelta(hours=1):
        raise QuoteRefused("expires_in must be between 5 s and 1 h")
    for number, leg in enumerate(legs, start=1):
        if leg.side not in Side.values:
            raise QuoteRefused(f"leg {number}: side must be buy or sell")
        if leg.quantity <= 0 or leg.quantity % leg.instrument.lot_size != 0:
            raise QuoteRefused(
                f"leg {number}: quantity {leg.quantity} is not a positive multiple of the lot {leg.instrument.lot_size}"
            )
        if leg.ratio < 1:
            raise QuoteRefused(f"leg {number}: ratio must be at least 1")
    _legs_tradable(legs=legs, now=utcnow(), package_type=package_type)
    refused = rfq_legs_guard(legs=legs, actor=actor)
    if refused:
        raise QuoteRefused("; ".join(f"leg {number}: {report.message}" for number, report in refused))
    with transaction.atomic():
        rfq = RFQ.objects.create(
            reference=f"RFQ-{utcnow():%y%m%d}-{uuid.uuid4().hex[:8].upper()}",
            package_type=package_type,
            disclosed=disclosed,
            created_by=actor,
            expires_at=utcnow() + expires_in,
            mode=mode,
            risk_aversion=risk_aversion,
            allow_legging=allow_legging,
        )
        RFQLeg.objects.bulk_create(
            RFQLeg(
                rfq=rfq, leg_no=number, instrument=leg.instrument, side=leg.side, ratio=leg.ratio, quantity=leg.quantity
            )
            for number, leg in enumerate(legs, start=1)
        )
        if orders:
            rfq.orders.set(orders)
        audit_record(
            actor=actor,
            action="rfq.create",
            obj=rfq,
            after={
                "package_type": package_type,
                "legs": [[leg.instrument.symbol, leg.side, leg.ratio, leg.quantity] for leg in legs],
                "expires_at": rfq.expires_at,
                "mode": mode,
            },
        )
    return rfq


def _requests_create(*, rfq: RFQ, dealers: list[Counterparty], now: datetime) -> list[QuoteRequest]:
    inactive = [d.code for d in dealers if d.status != CounterpartyStatus.ACTIVE]
    if inactive:
        raise QuoteRefused(f"dealers not active: {', '.join(inactive)}")
    return [
        QuoteRequest.objects.create(
            rfq=rfq,
            dealer=dealer,
            quote_req_id=f"{rfq.reference}-{uuid.uuid4().hex[:10]}",
            channel=dealer.connectivity,
            # REST dealers pull their RFQs: available at once. FIX ones wait for the gateway to deliver.
            status=QuoteRequestStatus.PENDING if dealer.connectivity == Connectivity.FIX else QuoteRequestStatus.SENT,
            sent_at=None if dealer.connectivity == Connectivity.FIX else now,
        )
        for dealer in dealers
    ]


def _arrival_mid(*, rfq: RFQ, legs: list[RFQLeg], now: datetime) -> Decimal | None:
    """The market's mark of the RFQ when it goes out (None without a market for it): the benchmark of its cost."""
    try:
        return Decimal(repr(rfq_market(rfq=rfq, legs=legs, now=now).mid)).quantize(Decimal("1e-8"))
    except (NoMarket, ValueError, ZeroDivisionError):
        return None


def rfq_send(*, rfq: RFQ, dealers: list[Counterparty], actor: Actor) -> list[QuoteRequest]:
    """Send a draft RFQ to the chosen dealers: one QuoteRequest each (pending until its transport delivers it)."""
    if not dealers:
        raise QuoteRefused("an RFQ needs at least one dealer")
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq.pk)
        if rfq.status != RFQStatus.DRAFT:
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}, only a draft can be sent")
        legs = list(rfq.legs.select_related("instrument"))
        if not legs:
            raise QuoteRefused(f"RFQ {rfq.reference} has no legs")
        now = utcnow()
        _legs_tradable(legs=[LegInput(leg.instrument, leg.side, leg.quantity, leg.ratio) for leg in legs], now=now)
        requests = _requests_create(rfq=rfq, dealers=dealers, now=now)
        rfq.status, rfq.sent_at, rfq.version = RFQStatus.SENT, now, rfq.version + 1
        rfq.arrival_mid = _arrival_mid(rfq=rfq, legs=legs, now=now)
        rfq.save(update_fields=["status", "sent_at", "version", "arrival_mid"])
        audit_record(
            actor=actor,
            action="rfq.send",
            obj=rfq,
            before={"status": RFQStatus.DRAFT},
            after={"status": rfq.status, "dealers": [d.code for d in dealers]},
        )
        for request in requests:
            notify_gateway(kind="quote_request", obj_id=request.pk, dealer=request.dealer)
        broadcast(event="rfq.sent", payload={"rfq": rfq.reference, "dealers": len(dealers)})

    return requests


def quote_requests_add(*, rfq: RFQ, dealers: list[Counterparty], actor: Actor) -> list[QuoteRequest]:
    """Widen a sent RFQ to more dealers (the next wave). Dealers already asked are skipped; none learns who else
    was asked."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq.pk)
        if rfq.status not in OPEN_RFQ_STATES:
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}: it cannot be widened")
        asked = set(rfq.quote_requests.values_list("dealer_id", flat=True))
        dealers = [d for d in dealers if d.pk not in asked]
        if not dealers:
            return []
        requests = _requests_create(rfq=rfq, dealers=dealers, now=utcnow())
        audit_record(actor=actor, action="rfq.widen", obj=rfq, after={"dealers": [d.code for d in dealers]})
        for request in requests:
            notify_gateway(kind="quote_request", obj_id=request.pk, dealer=request.dealer)
    return requests


def quote_requests_refresh(*, rfq: RFQ, dealers: list[Counterparty], actor: Actor) -> list[QuoteRequest]:
    """Ask dealers already asked again (a refreshed request): each one's request gets a new QuoteReqID and goes out
    again, as a dealer sees a new RFQ; answers to the old id are refused from now on. Dealers that declined, or have
    a live quote still, are skipped. Their expired quotes are marked so."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq.pk)
        if rfq.status not in OPEN_RFQ_STATES:
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}: it cannot be asked again")
        now = utcnow()
        codes = {d.code for d in dealers if d.status == CounterpartyStatus.ACTIVE}
        live = set(
            rfq.quotes.filter(status=QuoteStatus.LIVE, valid_until__gt=now).values_list("dealer__code", flat=True)
        )
        requests = list(
            QuoteRequest.objects.select_for_update()
            .select_related("dealer")
            .filter(rfq=rfq, dealer__code__in=codes - live)
            .exclude(status=QuoteRequestStatus.DECLINED)
        )
        rfq.quotes.filter(status=QuoteStatus.LIVE, valid_until__lte=now).update(status=QuoteStatus.EXPIRED)
        for request in requests:
            fix = request.dealer.connectivity == Connectivity.FIX
            request.quote_req_id = f"{rfq.reference}-{uuid.uuid4().hex[:10]}"
            request.status = QuoteRequestStatus.PENDING if fix else QuoteRequestStatus.SENT
            request.sent_at = None if fix else now
            request.save(update_fields=["quote_req_id", "status", "sent_at"])
        if requests:
            audit_record(
                actor=actor, action="rfq.refresh", obj=rfq, after={"dealers": [r.dealer.code for r in requests]}
            )
        for request in requests:
            notify_gateway(kind="quote_request", obj_id=request.pk, dealer=request.dealer)
    return requests
