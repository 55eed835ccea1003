"""Numbers as the pages show them: a Decimal in plain notation, without trailing zeros (2000, never 2E+3)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from desk.fields import decimal_plain

register = template.Library()


@register.filter
def plain(value: object) -> str:
    """``Decimal("2000.000")`` as ``2000``, ``Decimal("0.750")`` as ``0.75``; None (or empty) as the dash."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, Decimal):
        return str(value)
    return decimal_plain(value)
