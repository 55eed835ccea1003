"""Decimal columns with one precision for the whole desk, so that units and rounding are explicit."""

from decimal import ROUND_HALF_EVEN, Decimal

from django.db import models
from rest_framework import serializers

# 28 significant digits, 12 after the point: satoshi-level quantities and sub-tick option prices both fit.
MAX_DIGITS = 28
DECIMAL_PLACES = 12
QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)


def price_field(help_text: str = "quote currency per unit of the instrument", **kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, help_text=help_text, **kwargs)


def quantity_field(help_text: str = "contracts (lots of the instrument)", **kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, help_text=help_text, **kwargs)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert a float from numpy/pandas to the stored precision with banker's rounding (the boundary rule)."""
    return Decimal(str(value)).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def api_decimal(**kwargs: object) -> serializers.DecimalField:
    """The API's Decimal field, with the database's precision."""
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)
