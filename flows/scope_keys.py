"""Scope keys -> what other apps keep: the books and strategies of plans and positions (execution), the client
accounts desk orders book into (desk), the dealers (rfq).

Trigger: :func:`risk.selectors.scope_key_unknown` (setting a limit, engaging a kill switch or a REDUCING state by a
risk officer, the circuit breaker, a command) asks the reader registered with
:func:`risk.selectors.scope_key_kept_set` whether a book, a strategy or a dealer exists. Reaction: a book is known
when a position or a plan is in it or a client account has its code, a strategy when a plan names it, a dealer when
a counterparty has its code.
"""

from __future__ import annotations

from desk.models import Account
from execution.selectors import book_in_use, strategy_in_use
from rfq.selectors import dealer_exists
from risk.models import LimitScope


def scope_key_kept(scope: str, scope_key: str) -> bool | None:
    """Whether execution or rfq keeps what ``scope_key`` names at ``scope``; None for the scopes they do not keep."""
    if scope == LimitScope.BOOK:
        # A client account is a book too: desk orders book their fills into it (flows.desk_orders).
        return book_in_use(book=scope_key) or Account.objects.filter(code=scope_key).exists()
    if scope == LimitScope.STRATEGY:
        return strategy_in_use(strategy=scope_key)
    if scope == LimitScope.DEALER:
        return dealer_exists(code=scope_key)
    return None
