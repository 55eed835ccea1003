"""Read queries of the risk domain: limits in force, the tightest limit per kind, switches, limit usage, and the
market-health monitor's stored verdicts beside the underlyings' circuit breakers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from desk.market import UNDERLYINGS
from desk.models import Instrument
from risk.models import (
    CIRCUIT_BREAKER_ACTOR,
    Alert,
    KillSwitch,
    Limit,
    LimitKind,
    LimitScope,
    MarketHealth,
    ScopeState,
)
from risk.orders import DEFAULT_BOOK

# Broadest first. Trader, dealer and underlying sit side by side below the strategy; the order only breaks ties.
SCOPE_RANK: dict[str, int] = {
    LimitScope.FIRM: 0,
    LimitScope.DESK: 1,
    LimitScope.BOOK: 2,
    LimitScope.STRATEGY: 3,
    LimitScope.TRADER: 4,
    LimitScope.DEALER: 5,
    LimitScope.UNDERLYING: 6,
    LimitScope.INSTRUMENT: 7,
}
# The scopes that take no key: there is one of each.
KEYLESS_SCOPES = frozenset({LimitScope.FIRM, LimitScope.DESK})

ScopeKey = tuple[str, str]
RATIO_QUANTUM = Decimal("0.000001")


def order_scopes(
    *, book: str, trader: str, underlying: str, instrument: str, strategy: str = "", dealer: str = ""
) -> list[ScopeKey]:
    """The (scope, scope_key) pairs an order falls under, broadest first. The firm and desk scopes have the empty
    key; the strategy is the book when none is named; the dealer scope only when the order goes to a dealer."""
    scopes = [
        (LimitScope.FIRM, ""),
        (LimitScope.DESK, ""),
        (LimitScope.BOOK, book),
        (LimitScope.STRATEGY, strategy or book),
        (LimitScope.TRADER, trader),
        (LimitScope.UNDERLYING, underlying),
        (LimitScope.INSTRUMENT, instrument),
    ]
    if dealer:
        scopes.insert(5, (LimitScope.DEALER, dealer))
    return scopes


ScopeKeyKept = Callable[[str, str], bool | None]
"""Whether another app keeps something a scope key names: ``(scope, scope_key)`` → True or False for the scopes it
answers for (books and strategies its plans and positions use, dealers), None for the others. Registered with
:func:`scope_key_kept_set`."""

# The permissions that make a user a trader (their orders fall under a trader scope).
TRADING_PERMS = ("rfq.add_rfq", "execution.add_executionplan")


def _kept_nowhere(scope: str, scope_key: str) -> bool | None:
    # Without the flows app risk reads no other app's rows: a book, strategy or dealer it cannot see is unknown.
    return None


_scope_key_kept: ScopeKeyKept = _kept_nowhere


def scope_key_kept_set(kept: ScopeKeyKept) -> None:
    """Register the reader of the scope keys other apps keep (the scope-keys flow registers it when the desk
    starts)."""
    global _scope_key_kept
    _scope_key_kept = kept


def books_declared() -> list[str]:
    """The desk's declared books (``settings.RISK_BOOKS``, from ``DESK_BOOKS``), the default book first."""
    return list(dict.fromkeys([DEFAULT_BOOK, *settings.RISK_BOOKS]))


def _book_known(key: str) -> bool:
    return key in books_declared() or _scope_key_kept(LimitScope.BOOK, key) is True


def _trader_unknown(key: str) -> str | None:
    user = get_user_model().objects.filter(username=key).first()
    if user is None or not user.is_active:
        return f"no active user {key!r}"
    if not any(user.has_perm(perm) for perm in TRADING_PERMS):
        return f"user {key!r} does not trade (no trader role)"
    return None


def scope_key_unknown(*, scope: str, scope_key: str) -> str | None:
    """Why ``scope_key`` names nothing that exists at ``scope`` (one line naming the key), or None when it does.

    An instrument is a symbol of :class:`~desk.models.Instrument`; an underlying, an instrument's base currency or
    a market the desk has reference data for; a trader, an active user with a trading role; a dealer, a
    counterparty's code; a book, one declared in ``settings.RISK_BOOKS`` or used by a plan or a position; a
    strategy, a book, one declared in ``settings.RISK_STRATEGIES`` or one a plan names. The firm and desk scopes
    take no key. What another app keeps (books, strategies, dealers) is read through :func:`scope_key_kept_set`.
    """
    if scope in KEYLESS_SCOPES:
        return None
    if scope == LimitScope.INSTRUMENT:
        known = Instrument.objects.filter(symbol=scope_key).exists()
        return None if known else f"unknown instrument {scope_key!r} (no instrument has this symbol)"
    if scope == LimitScope.UNDERLYING:
        markets = {reference.symbol for reference in UNDERLYINGS}
        known = scope_key in markets or Instrument.objects.filter(base_currency=scope_key).exists()
        return None if known else f"unknown underlying {scope_key!r} (no instrument or market on it)"
    if scope == LimitScope.TRADER:
        why = _trader_unknown(scope_key)
        return None if why is None else f"unknown trader {scope_key!r}: {why}"
    if scope == LimitScope.DEALER:
        known = _scope_key_kept(scope, scope_key) is True
        return None if known else f"unknown dealer {scope_key!r} (no counterparty has this code)"
    if scope == LimitScope.BOOK:
        if _book_known(scope_key):
            return None
        return (
            f"unknown book {scope_key!r} (declared: {', '.join(books_declared())}; a plan or a position may use "
            "others; declare a new one in DESK_BOOKS)"
        )
    if scope == LimitScope.STRATEGY:
        declared = scope_key in settings.RISK_STRATEGIES
        if declared or _book_known(scope_key) or _scope_key_kept(scope, scope_key) is True:
            return None
        return f"unknown strategy {scope_key!r} (neither a book, nor declared in DESK_STRATEGIES, nor named by a plan)"
    return f"unknown scope {scope!r}"


def _scopes_q(scopes: Iterable[ScopeKey]) -> Q:
    return reduce(or_, (Q(scope=scope, scope_key=key) for scope, key in scopes))


def limits_in_force() -> QuerySet[Limit]:
    """Every active limit, broadest scope first."""
    return Limit.objects.filter(is_active=True).select_related("updated_by")


def limits_for(*, scopes: Sequence[ScopeKey]) -> list[Limit]:
    """Every active limit among ``scopes`` (one query), by kind, tightest first (the broader scope on a tie)."""
    return sorted(
        Limit.objects.filter(_scopes_q(scopes), is_active=True),
        key=lambda limit: (limit.kind, limit.value, SCOPE_RANK[limit.scope]),
    )


def tightest_of(rows: Iterable[Limit]) -> dict[str, Limit]:
    """The first limit of each kind in ``rows`` (sorted as :func:`limits_for` sorts them)."""
    tightest: dict[str, Limit] = {}
    for limit in rows:
        tightest.setdefault(limit.kind, limit)
    return tightest


def limits_tightest(*, scopes: Sequence[ScopeKey]) -> dict[str, Limit]:
    """The tightest active limit of each kind among ``scopes`` (one query): the smallest value wins, the broader
    scope on a tie."""
    rows = limits_for(scopes=scopes)
    tightest: dict[str, Limit] = {}
    for limit in rows:
        tightest.setdefault(limit.kind, limit)
    return tightest


# The desk-wide scopes whose limits a stress replay takes (the firm's and the desk's: both cover the replayed book).
DESK_WIDE_SCOPES: tuple[ScopeKey, ...] = ((LimitScope.FIRM, ""), (LimitScope.DESK, ""))


def stress_limits() -> dict[str, Limit]:
    """The desk's standing limits a stress replay uses, kind → the tightest active row at the firm or desk scope:
    ``max_daily_loss`` (quote currency) and ``max_position`` (contracts), when set."""
    tightest = tightest_of(limits_for(scopes=DESK_WIDE_SCOPES))
    return {kind: tightest[kind] for kind in (LimitKind.MAX_DAILY_LOSS, LimitKind.MAX_POSITION) if kind in tightest}


def kill_switches_list(*, engaged: bool | None = None) -> QuerySet[KillSwitch]:
    """Kill switches, all of them or only the engaged (True) or armed (False) ones."""
    switches = KillSwitch.objects.all()
    return switches if engaged is None else switches.filter(engaged=engaged)


def kill_switches_engaged_for(*, scopes: Sequence[ScopeKey]) -> list[KillSwitch]:
    """The engaged switches among ``scopes``, broadest first (one query)."""
    rows = KillSwitch.objects.filter(_scopes_q(scopes), engaged=True)
    return sorted(rows, key=lambda switch: SCOPE_RANK[switch.scope])


def scope_states_for(*, scopes: Sequence[ScopeKey]) -> list[KillSwitch]:
    """The switches among ``scopes`` that are not ACTIVE (HALTED or REDUCING), broadest first (one query)."""
    rows = KillSwitch.objects.filter(_scopes_q(scopes)).exclude(state=ScopeState.ACTIVE)
    return sorted(rows, key=lambda switch: SCOPE_RANK[switch.scope])


@dataclass(frozen=True)
class LimitUsage:
    """How much of a standing limit is used. ``used`` is None for the per-order kinds (collar, notional,
    participation) and where the desk keeps no figure at that scope (positions are per book, not per trader; the
    daily P&L comes from the caller's marks)."""

    limit: Limit
    used: Decimal | None
    ratio: Decimal | None
    detail: str


LimitFigure = Callable[[Limit], LimitUsage]
"""The usage of a limit whose figure another app keeps: a position limit (positions) or a dealer's exposure limit (its
dealer orders). Registered with :func:`limit_figure_set`."""


def _no_figure(limit: Limit) -> LimitUsage:
    # Without the flows app risk reads no other app's rows: the usage is unknown, never a made-up zero.
    return LimitUsage(limit, None, None, "no figure kept")


_limit_figure: LimitFigure = _no_figure


def limit_figure_set(figure: LimitFigure) -> None:
    """Register the reader of the figures other apps keep (the limit-usage flow registers it when the desk starts)."""
    global _limit_figure
    _limit_figure = figure


def usage_ratio(used: Decimal, value: Decimal) -> Decimal | None:
    """Used over set, to :data:`RATIO_QUANTUM`; None for a limit set to zero."""
    return (used / value).quantize(RATIO_QUANTUM) if value else None


def limit_usage(*, scope: str | None = None, scope_key: str | None = None) -> list[LimitUsage]:
    """Usage of the limits in force, optionally of one scope (and key).

    The position limit applies to each book's position in each instrument, so its usage at a scope is the largest
    absolute such position in it, contracts, against the limit as set (before volatility scaling). A dealer's
    exposure limit is used by its open dealer orders and today's fills. Both figures come from the apps that keep
    them, through :func:`limit_figure_set`.
    """
    limits = limits_in_force()
    if scope is not None:
        limits = limits.filter(scope=scope)
    if scope_key is not None:
        limits = limits.filter(scope_key=scope_key)
    usage: list[LimitUsage] = []
    for limit in limits:
        dealer_exposure = limit.kind == LimitKind.MAX_DEALER_EXPOSURE and limit.scope == LimitScope.DEALER
        if dealer_exposure or limit.kind == LimitKind.MAX_POSITION:
            usage.append(_limit_figure(limit))
            continue
        detail = "from the caller's marks" if limit.kind == LimitKind.MAX_DAILY_LOSS else "checked per order"
        usage.append(LimitUsage(limit, None, None, detail))
    return usage


def alerts_open(*, plan_id: int | None = None) -> QuerySet[Alert]:
    """Unacknowledged risk alerts, newest first (with their plan and its instrument), optionally of one plan.
    The risk page lists these; ``risk.alert`` events announce new ones as they fire."""
    alerts = Alert.objects.filter(acknowledged=False).select_related("plan__instrument").order_by("-created_at", "-id")
    return alerts if plan_id is None else alerts.filter(plan_id=plan_id)


@dataclass(frozen=True)
class MarketHealthBoard:
    """One underlying's stored market-health verdict (None before the monitor's first) beside its kill switch:
    ``switch_state`` is the underlying scope's state (``active`` when no switch was ever set), ``circuit_breaker``
    whether the switch is engaged by the monitor's circuit breaker (not by a person)."""

    underlying: str
    health: MarketHealth | None
    switch_state: str
    circuit_breaker: bool
    switch_reason: str


def market_health_board(*, underlyings: Iterable[str] = ()) -> list[MarketHealthBoard]:
    """Every underlying the monitor has a verdict on (and those in ``underlyings``), by code, each with its
    underlying kill switch (two queries)."""
    rows = {row.underlying: row for row in MarketHealth.objects.all()}
    switches = {s.scope_key: s for s in KillSwitch.objects.filter(scope=LimitScope.UNDERLYING)}
    board = []
    for underlying in sorted(set(rows) | set(underlyings)):
        switch = switches.get(underlying)
        board.append(
            MarketHealthBoard(
                underlying=underlying,
                health=rows.get(underlying),
                switch_state=switch.state if switch is not None else ScopeState.ACTIVE,
                circuit_breaker=switch is not None and switch.engaged and switch.changed_by == CIRCUIT_BREAKER_ACTOR,
                switch_reason=switch.reason if switch is not None else "",
            )
        )
    return board
