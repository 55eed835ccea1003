"""Demo data for the embedded desk: a user per role, accounts, BTC and ETH instruments, simulated dealers, and a
limit hierarchy (desk, trader, underlying, instrument) inside the fat-finger defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction

from desk import clock
from desk.audit import audit_record
from desk.models import Account, Instrument, InstrumentKind, OptionType
from desk.roles import Role, roles_sync
from rfq.models import Connectivity, Counterparty
from risk.models import Limit, LimitKind, LimitScope
from risk.services import limit_set

DEMO_USERS = {
    "trader": Role.TRADER,
    "risk": Role.RISK_OFFICER,
    "compliance": Role.COMPLIANCE,
    "admin": Role.ADMIN,
}

# code, name, connectivity. The dealers' hidden behaviour lives with the simulator, never here.
DEMO_DEALERS = [
    ("ALPHA", "Alpha Markets", Connectivity.FIX),
    ("BRAVO", "Bravo Liquidity", Connectivity.FIX),
    ("CHARLIE", "Charlie Capital", Connectivity.FIX),
    ("DELTA", "Delta Derivatives", Connectivity.FIX),
    ("ECHO", "Echo Trading", Connectivity.REST),
    ("FOXTROT", "Foxtrot Partners", Connectivity.REST),
    ("GOLF", "Golf Options", Connectivity.REST),
    ("HOTEL", "Hotel Digital", Connectivity.REST),
]

UNDERLYINGS = {
    "BTC": (Decimal("0.5"), Decimal("0.0001"), 100_000, 5_000),
    "ETH": (Decimal("0.05"), Decimal("0.001"), 3_500, 250),
}


DEMO_ACTOR = "system:seed_demo"
# (scope, key, kind, value): the demo desk's limits, each inside the fat-finger defaults (settings.RISK_FAT_FINGER),
# and above the sizes the demo trades (a few BTC, tens of ETH by hand; up to 5M a ticket when train_scoring or a
# backtest books simulated RFQs): the desk's 25M per order and 10M loss a day; the trader's 10M per order; per
# underlying, an order of at most 250 BTC / 4 000 ETH (options included); per spot and perpetual, 100 BTC / 2 500 ETH
# an order and a position of 1 000 BTC / 20 000 ETH. No collar row: a collar row refuses an order without a market
# mid (a world whose market has not written its books yet, as a backtest's), while the default collar guards the
# venue orders, which always have one.
DEMO_LIMITS: list[tuple[str, str, str, int]] = [
    (LimitScope.DESK, "", LimitKind.MAX_ORDER_NOTIONAL, 25_000_000),
    (LimitScope.DESK, "", LimitKind.MAX_DAILY_LOSS, 10_000_000),
    (LimitScope.TRADER, "trader", LimitKind.MAX_ORDER_NOTIONAL, 10_000_000),
    (LimitScope.UNDERLYING, "BTC", LimitKind.MAX_ORDER_QUANTITY, 250),
    (LimitScope.UNDERLYING, "ETH", LimitKind.MAX_ORDER_QUANTITY, 4_000),
    *[
        (LimitScope.INSTRUMENT, f"{base}-{kind}", limit_kind, value)
        for base, per_order, position in (("BTC", 100, 1_000), ("ETH", 2_500, 20_000))
        for kind in ("USD", "PERP")
        for limit_kind, value in ((LimitKind.MAX_ORDER_QUANTITY, per_order), (LimitKind.MAX_POSITION, position))
    ],
]


def demo_password(name: str) -> str:
    return f"demo-{name}"


def _last_friday(year: int, month: int) -> datetime:
    first_next = datetime(year + month // 12, month % 12 + 1, 1, 8, 0, tzinfo=UTC)
    day = first_next - timedelta(days=1)
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return day


def demo_expiries(today: datetime, count: int = 2) -> list[datetime]:
    """The next ``count`` monthly expiries (last Friday, 08:00 UTC) at least a week away."""
    expiries, year, month = [], today.year, today.month
    while len(expiries) < count:
        expiry = _last_friday(year, month)
        if expiry - today >= timedelta(days=7):
            expiries.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return expiries


def _instrument(symbol: str, **fields: Any) -> tuple[Instrument, bool]:
    return Instrument.objects.get_or_create(symbol=symbol, defaults=fields)


@transaction.atomic
def demo_seed(*, now: datetime | None = None) -> dict[str, int]:
    """Create the demo data that is missing; existing rows are left as they are (idempotent)."""
    now = now or clock.now()
    roles_sync()
    created = {"users": 0, "accounts": 0, "instruments": 0, "dealers": 0, "limits": 0}

    for name, role in DEMO_USERS.items():
        user, new = User.objects.get_or_create(username=name, defaults={"email": f"{name}@desk.example"})
        if new:
            user.set_password(demo_password(name))
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save()
            created["users"] += 1
        user.groups.add(Group.objects.get(name=role))

    for code, name in [("ACC-ALPHA-FUND", "Alpha Fund"), ("ACC-BETA-TREASURY", "Beta Treasury")]:
        created["accounts"] += Account.objects.get_or_create(code=code, defaults={"name": name})[1]

    expiries = demo_expiries(now)
    for base, (_spot_lot, perp_lot, atm, step) in UNDERLYINGS.items():
        spot, new = _instrument(
            f"{base}-USD",
            kind=InstrumentKind.SPOT,
            base_currency=base,
            quote_currency="USD",
            tick_size=Decimal("0.01"),
            lot_size=perp_lot,
        )
        created["instruments"] += new
        created["instruments"] += _instrument(
            f"{base}-PERP",
            kind=InstrumentKind.PERPETUAL,
            base_currency=base,
            quote_currency="USD",
            underlying=spot,
            tick_size=Decimal("0.1"),
            lot_size=perp_lot,
        )[1]
        for expiry in expiries:
            for offset in (-2, -1, 0, 1, 2):
                strike = atm + offset * step
                for option_type in (OptionType.CALL, OptionType.PUT):
                    symbol = f"{base}-{expiry:%d%b%y}-{strike}-{option_type[0].upper()}".upper()
                    created["instruments"] += _instrument(
                        symbol,
                        kind=InstrumentKind.OPTION,
                        base_currency=base,
                        quote_currency="USD",
                        underlying=spot,
                        strike=Decimal(strike),
                        expiry=expiry,
                        option_type=option_type,
                        tick_size=Decimal("0.5") if base == "BTC" else Decimal("0.05"),
                        lot_size=Decimal("0.1") if base == "BTC" else Decimal("1"),
                    )[1]

    dealer_group = Group.objects.get(name=Role.DEALER)
    for code, name, connectivity in DEMO_DEALERS:
        if Counterparty.objects.filter(code=code).exists():
            continue
        user = User.objects.create_user(username=f"dealer-{code.lower()}", password=None)
        user.groups.add(dealer_group)
        dealer = Counterparty(
            code=code,
            name=name,
            connectivity=connectivity,
            fix_sender_comp_id=code if connectivity == Connectivity.FIX else None,
            api_key_id=f"key-{code.lower()}",
            instrument_classes=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL, InstrumentKind.OPTION],
            user=user,
        )
        dealer.set_api_secret(demo_password(code.lower()))
        dealer.set_fix_password(demo_password(code.lower()))
        dealer.save()
        created["dealers"] += 1

    # Once the users and instruments they name exist; a limit already set (perhaps changed since) is left alone.
    for scope, key, kind, value in DEMO_LIMITS:
        if not Limit.objects.filter(scope=scope, scope_key=key, kind=kind).exists():
            limit_set(scope=scope, scope_key=key, kind=kind, value=Decimal(value), actor=DEMO_ACTOR)
            created["limits"] += 1

    if any(created.values()):
        audit_record(actor=DEMO_ACTOR, action="demo.seed", after=created)
    return created
