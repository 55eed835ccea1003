"""Market impact of the desk's own orders, linear or square-root in participation (pure functions)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from execution.market.config import ImpactConfig, ImpactForm


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
