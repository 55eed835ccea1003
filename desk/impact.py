"""Market impact of the desk's own orders, linear or square-root in participation: its parameters and its pure
functions. The desk routes and schedules with it; the simulated market prices with the same functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

ImpactForm = Literal["linear", "sqrt"]


@dataclass(frozen=True)
class ImpactConfig:
    """Market impact of the desk's own orders.

    An order of ``q`` coins has a participation ``x = q / reference_volume``; its impact, as a fraction of
    the mid, is ``coefficient * x`` (``"linear"``) or ``coefficient * sqrt(x)`` (``"sqrt"``), scaled by
    ``current volatility / volatility_reference`` and divided by the liquidity factor of the moment.

    Attributes
    ----------
    temporary_form, permanent_form : {'linear', 'sqrt'}
        Shape of each component in the participation.
    temporary_coefficient : float
        Temporary impact, fraction of mid, at participation 1.
    permanent_coefficient : float
        Permanent impact, fraction of mid, at participation 1.
    reference_volume : float
        Coins; the participation denominator (about one day's volume).
    decay_half_life_s : float
        Seconds for the temporary displacement of the mid to halve.
    volatility_reference : float
        Annualized volatility at which the coefficients apply unscaled.
    max_impact : float
        Cap on each component, fraction of mid, so that a silly order cannot push a price through zero.
    liquidity_floor : float
        Smallest liquidity factor used as a divisor, so that vanished depth makes impact large, not infinite.
    """

    temporary_form: ImpactForm = "sqrt"
    temporary_coefficient: float = 0.01
    permanent_form: ImpactForm = "linear"
    permanent_coefficient: float = 0.05
    reference_volume: float = 20_000.0
    decay_half_life_s: float = 60.0
    volatility_reference: float = 0.60
    max_impact: float = 0.5
    liquidity_floor: float = 0.05

    def __post_init__(self) -> None:
        for form in (self.temporary_form, self.permanent_form):
            if form not in ("linear", "sqrt"):
                raise ValueError(f"impact form must be 'linear' or 'sqrt', got {form!r}")
        if min(self.temporary_coefficient, self.permanent_coefficient) < 0:
            raise ValueError("impact coefficients must be non-negative")
        if min(self.reference_volume, self.decay_half_life_s, self.volatility_reference, self.liquidity_floor) <= 0:
            raise ValueError("reference volume, half-life, reference volatility and liquidity floor must be positive")


def impact_shape(participation: npt.ArrayLike, form: ImpactForm) -> npt.NDArray[np.float64]:
    """``x`` for the linear form, ``sqrt(x)`` for the square-root form, elementwise.

    Parameters
    ----------
    participation : float or array_like
        Order size over the reference volume, dimensionless, >= 0.
    form : {'linear', 'sqrt'}
        Shape of the impact.

    Returns
    -------
    ndarray
        Dimensionless shape factor.
    """
    x = np.asarray(participation, dtype=np.float64)
    if np.any(x < 0):
        raise ValueError("participation must be non-negative")
    if form == "linear":
        return x
    if form == "sqrt":
        return np.sqrt(x)
    raise ValueError(f"impact form must be 'linear' or 'sqrt', got {form!r}")


def impact_fractions(
    quantity: npt.ArrayLike, *, config: ImpactConfig, volatility: float, liquidity: float = 1.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Temporary and permanent impact of an order, as fractions of the mid.

    Parameters
    ----------
    quantity : float or array_like
        Order size in coins, >= 0 (the side only sets the sign of the move, not its size).
    config : ImpactConfig
        Coefficients and forms.
    volatility : float
        Current annualized volatility; impact scales with it because a market that moves more prices
        information in an order more.
    liquidity : float
        Liquidity factor, 1 normal, 0 when depth has vanished (floored by ``config.liquidity_floor``).

    Returns
    -------
    temporary, permanent : ndarray
        Fractions of mid, each capped at ``config.max_impact``.
    """
    participation = np.asarray(quantity, dtype=np.float64) / config.reference_volume
    scale = (volatility / config.volatility_reference) / max(liquidity, config.liquidity_floor)
    temporary = config.temporary_coefficient * impact_shape(participation, config.temporary_form) * scale
    permanent = config.permanent_coefficient * impact_shape(participation, config.permanent_form) * scale
    return np.minimum(temporary, config.max_impact), np.minimum(permanent, config.max_impact)
