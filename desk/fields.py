"""Columns shared by the whole desk: Decimal columns with one precision, so that units and rounding are explicit, and
timestamps stamped by the desk clock."""

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import models
from rest_framework import serializers

from desk import clock

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


class ClockDateTimeField(models.DateTimeField):
    """A ``DateTimeField`` whose ``auto_now`` / ``auto_now_add`` stamp reads :func:`desk.clock.now`, not Django's
    ``timezone.now``: a row booked under a simulated clock carries the simulated time, like the services' own
    timestamps."""

    def pre_save(self, model_instance: models.Model, add: bool) -> datetime:
        if self.auto_now or (self.auto_now_add and add):
            value = clock.now()
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)


def decimal_plain(value: Decimal) -> str:
    """A Decimal as people read it: plain notation without trailing zeros (2000, never 2E+3; 0.75, not 0.750)."""
    return format(value.normalize(), "f")
