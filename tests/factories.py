"""Factories for the desk's rows. Plain functions with sensible defaults; the fixtures in conftest expose them."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import connection

from desk import clock
from desk.market import RATE, SECONDS_PER_YEAR
from desk.marks import VolQuote, reference_surface, vol_quotes_publish, vol_surface_refit
from desk.models import Account, Instrument, InstrumentKind, VolSurface
from desk.roles import Role
from desk.surface import SurfaceParameters
from rfq.models import RFQ, Connectivity, Counterparty, DeskOrder, Quote, QuoteRequest, RFQLeg, Side
from rfq.services import QuoteLegInput, quote_receive, rfq_send

_ids = itertools.count(1)


def user_create(*, role: str, username: str | None = None, password: str = "pw-for-tests-123") -> User:
    user = User.objects.create_user(username=username or f"{role}-{next(_ids)}", password=password)
    user.groups.add(Group.objects.get(name=role))
    if role == Role.ADMIN:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def instrument_create(*, symbol: str | None = None, kind: str = InstrumentKind.SPOT, **fields: object) -> Instrument:
    defaults = {
        "base_currency": "BTC",
        "quote_currency": "USD",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.0001"),
    }
    defaults.update(fields)
    return Instrument.objects.create(symbol=symbol or f"BTC-USD-{next(_ids)}", kind=kind, **defaults)


def account_create(*, code: str | None = None) -> Account:
    code = code or f"ACC-{next(_ids)}"
    return Account.objects.create(code=code, name=f"Client {code}")


def dealer_create(
    *, code: str | None = None, secret: str = "dealer-secret-xyz", connectivity: str = Connectivity.REST
) -> Counterparty:
    code = code or f"DLR{next(_ids)}"
    user = user_create(role=Role.DEALER, username=f"dealer-{code.lower()}")
    dealer = Counterparty(
        code=code,
        name=f"Dealer {code}",
        connectivity=connectivity,
        fix_sender_comp_id=code if connectivity == Connectivity.FIX else None,
        api_key_id=f"key-{code.lower()}",
        instrument_classes=[InstrumentKind.SPOT],
        user=user,
    )
    dealer.set_api_secret(secret)
    dealer.save()
    return dealer


def desk_order_create(*, trader: User, instrument: Instrument, account: Account, quantity: str = "5") -> DeskOrder:
    return DeskOrder.objects.create(
        account=account, instrument=instrument, side=Side.BUY, quantity=Decimal(quantity), trader=trader
    )


def rfq_create(
    *,
    trader: User,
    instrument: Instrument,
    dealers: list[Counterparty],
    orders: list[DeskOrder] = (),
    side: str = Side.BUY,
    quantity: str = "5",
    expires_in: timedelta = timedelta(minutes=5),
    send: bool = True,
) -> RFQ:
    """A single-instrument RFQ, sent to ``dealers`` through the service unless ``send`` is False (a draft)."""
    rfq = RFQ.objects.create(
        reference=f"RFQ-{next(_ids):06d}", created_by=trader, expires_at=datetime.now(UTC) + expires_in
    )
    rfq.orders.set(orders)
    RFQLeg.objects.create(rfq=rfq, leg_no=1, instrument=instrument, side=side, quantity=Decimal(quantity))
    if send:
        rfq_send(rfq=rfq, dealers=dealers, actor=trader)
        rfq.refresh_from_db()
    return rfq


def quote_create(
    *, rfq: RFQ, dealer: Counterparty, bid: str = "99", offer: str = "101", valid_for: timedelta = timedelta(minutes=1)
) -> Quote:
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
    return quote_receive(
        dealer=dealer,
        quote_req_id=request.quote_req_id,
        quote_id=f"Q-{next(_ids)}",
        legs=[
            QuoteLegInput(
                leg_no=1, bid_price=Decimal(bid), bid_size=Decimal(5), offer_price=Decimal(offer), offer_size=Decimal(5)
            )
        ],
        valid_until=datetime.now(UTC) + valid_for,
    )


def validated_price_set(*, underlying: str, price: str | Decimal, state: str = "healthy") -> None:
    """Publish ``price`` as the market-health monitor's validated price of ``underlying``, fresh now."""
    from risk.reference import validated_price_publish

    validated_price_publish(
        underlying=underlying, price=float(price), state=state, source_feed="A", at=datetime.now(UTC)
    )


def validated_price_clear(*, underlying: str) -> None:
    """Forget the validated price of ``underlying`` (as if the monitor never published one)."""
    from django.core.cache import cache

    from risk.reference import KEY_PREFIX

    cache.delete(f"{KEY_PREFIX}{underlying}")


def desk_order_enter(
    *,
    trader: User,
    instrument: Instrument,
    side: str = Side.BUY,
    quantity: str = "1",
    account: Account | None = None,
    book: str = "",
    limit: str | None = None,
    urgency: str = "normal",
) -> DeskOrder:
    """A desk order entered through the service (checked, audited), for ``account`` or ``book``."""
    from rfq.services import desk_order_create as enter

    return enter(
        account=account,
        book=book,
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        limit_price=None if limit is None else Decimal(limit),
        urgency=urgency,
        trader=trader,
    )


RELAXED_THRESHOLDS = {
    "fill_auc_min": 0.0,
    "answer_auc_min": 0.0,
    "min_holdout_fills": 5,
    "brier_must_beat_baseline": 0.0,
}
"""Validation thresholds a short simulated history passes (the truth test holds the real ones)."""


def scoring_history_book(*, seed: int, n_rfqs: int, instruments: int = 2, **simulate: object):  # noqa: ANN201
    """The simulated desk of ``tests.rfq.test_scoring_truth.world_create`` with ``n_rfqs`` RFQs booked through the
    services: ``(world, result)``, ``result.mids`` the market the scoring trains on."""
    from sim.dealers.profiles import DEMO_PROFILES
    from sim.scoring import scoring_simulate
    from tests.rfq.test_scoring_truth import world_create

    world = world_create(seed=seed)
    result = scoring_simulate(
        n_rfqs=n_rfqs,
        seed=seed,
        dealers=world.dealers,
        profiles=DEMO_PROFILES,
        instruments=world.instruments[:instruments],
        actor=world.trader,
        market=world.market,
        **simulate,
    )
    return world, result


def own_database_url() -> str:
    """The URL of the database the tests run on (SQLite file or PostgreSQL), as a command's ``--database-url``."""
    config = connection.settings_dict
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{config['NAME']}"
    return f"postgres://{config['USER']}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


SURFACE = SurfaceParameters(atm_short=0.9, atm_long=0.72, term_decay_days=40.0, skew_30d=-0.2, curvature_30d=0.5)
"""A market surface unlike the reference one (richer short end, steeper skew): marks read from it are the fit's."""
SURFACE_DAYS = (3.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0)


def vol_quotes_of(
    *,
    underlying: str = "BTC",
    spot: float = 100_000.0,
    parameters: SurfaceParameters = SURFACE,
    at: datetime | None = None,
    half_spread: float = 0.01,
    days: tuple[float, ...] = SURFACE_DAYS,
) -> list[VolQuote]:
    """A venue's volatility quotes drawn from ``parameters``: expiries ``days`` after ``at``, strikes every 5 % of
    ``spot`` from 75 % to 130 %, the surface's volatility plus or minus ``half_spread``."""
    at = at or clock.now()
    base = reference_surface(underlying).base
    quotes = []
    for day in days:
        t = day * 86_400 / SECONDS_PER_YEAR
        for share in range(75, 131, 5):
            strike = spot * share / 100
            vol = float(parameters.vol(math.log(strike / (spot * math.exp(RATE * t))), t, base=base))
            quotes.append(VolQuote(at + timedelta(days=day), strike, vol - half_spread, vol + half_spread))
    return quotes


def vol_surface_fitted(
    *,
    underlying: str = "BTC",
    spot: float = 100_000.0,
    parameters: SurfaceParameters = SURFACE,
    at: datetime | None = None,
) -> VolSurface:
    """The desk's surface of ``underlying`` fitted, through the feed and the refit service, to quotes drawn from
    ``parameters``."""
    at = at or clock.now()
    quotes = vol_quotes_of(underlying=underlying, spot=spot, parameters=parameters, at=at)
    vol_quotes_publish(underlying=underlying, at=at, spot=spot, quotes=quotes)
    row = vol_surface_refit(underlying=underlying)
    if row is None or row.status != "fitted":
        raise AssertionError(f"the test surface was not fitted: {row}")
    return row
