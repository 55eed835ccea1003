r"""Multi-leg packages: which legs make a straddle, strangle, collar, spread or calendar, and what the package risks.

Pure: no ORM. Legs are described by :class:`PackageLeg` (floats, years to expiry).

**Consistency** (:func:`package_legs_check`): every leg of a package is on one underlying; option legs of one
package type have the shapes below, and the leg quantities are in the legs' ratios (``quantity_i / ratio_i`` is
the same number of packages for every leg).

=============  ===========================================================================================
straddle       a call and a put, same strike and expiry, same side
strangle       a call and a put, same expiry, the put's strike below the call's, same side
collar         a put and a call, same expiry, the put's strike below the call's, opposite sides (+ optional
               underlying leg)
call_spread    two calls, same expiry, different strikes, opposite sides (put_spread: two puts)
calendar       two options of one type and strike, different expiries, opposite sides
custom         any legs on one underlying
=============  ===========================================================================================

**Risk** (:func:`package_risk`): the legs share two risk factors, the underlying's price ``S`` and its implied
volatility ``σ``, so a package's risk is not the sum of its legs'. To first order leg ``i`` moves by
``dV_i = Δ_i dS + ν_i dσ`` (Black–Scholes delta and vega, signed by side, times ratio × quantity × multiplier).
Over ``dt`` the factors have covariance

    C = dt · [[ (Sσ)²,        ρ · Sσ · ξσ ],
              [ ρ · Sσ · ξσ,  (ξσ)²      ]]

(``ξ`` the volatility of volatility, ``ρ`` the spot–vol correlation; ``σ`` here the underlying's volatility, each
option priced at its own implied volatility when the leg carries one), so with ``e_i = (Δ_i, ν_i)`` the package's
variance is ``(Σ e_i)ᵀ C (Σ e_i)`` while the legs taken alone add up to ``Σ sqrt(e_iᵀ C e_i)``. A straddle's
deltas cancel; a call spread's vegas partly cancel: ``diversification`` = package sd / sum of the legs' sd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from desk.pricing import black_scholes

SECONDS_PER_YEAR = 365.0 * 86_400.0


@dataclass(frozen=True)
class PackageLeg:
    """One leg: ``kind`` spot/perpetual/option, ``option_type`` call/put ('' otherwise), ``strike`` and ``expiry_years``
    (options only), the ``underlying`` code, ``side`` buy/sell, ``ratio`` and ``quantity`` (contracts), the
    contract ``multiplier`` and, for an option, the ``implied_vol`` it is marked at (annualized; None: the ``vol``
    the risk is computed with)."""

    kind: str
    underlying: str
    side: str
    quantity: float
    ratio: int = 1
    option_type: str = ""
    strike: float | None = None
    expiry_years: float | None = None
    multiplier: float = 1.0
    implied_vol: float | None = None


def _options(legs: Sequence[PackageLeg]) -> list[tuple[int, PackageLeg]]:
    return [(n, leg) for n, leg in enumerate(legs, start=1) if leg.kind == "option"]


def _shape_errors(package_type: str, legs: Sequence[PackageLeg]) -> list[str]:
    options = _options(legs)
    others = [n for n, leg in enumerate(legs, start=1) if leg.kind != "option"]
    calls = [(n, leg) for n, leg in options if leg.option_type == "call"]
    puts = [(n, leg) for n, leg in options if leg.option_type == "put"]
    if package_type in ("straddle", "strangle"):
        if len(options) != 2 or len(calls) != 1 or len(puts) != 1 or others:
            return [f"a {package_type} is one call and one put"]
        (_, call), (_, put) = calls[0], puts[0]
        errors = []
        if call.expiry_years != put.expiry_years:
            errors.append(f"a {package_type}'s call and put have the same expiry")
        if call.side != put.side:
            errors.append(f"a {package_type} buys (or sells) both options")
        if package_type == "straddle" and call.strike != put.strike:
            errors.append("a straddle's call and put have the same strike")
        if package_type == "strangle" and not (put.strike or 0) < (call.strike or 0):
            errors.append("a strangle's put strike is below its call strike")
        return errors
    if package_type == "collar":
        if len(calls) != 1 or len(puts) != 1 or len(others) > 1:
            return ["a collar is one put and one call (and optionally the underlying)"]
        (_, call), (_, put) = calls[0], puts[0]
        errors = []
        if call.expiry_years != put.expiry_years:
            errors.append("a collar's put and call have the same expiry")
        if call.side == put.side:
            errors.append("a collar buys one option and sells the other")
        if not (put.strike or 0) < (call.strike or 0):
            errors.append("a collar's put strike is below its call strike")
        return errors
    if package_type in ("call_spread", "put_spread"):
        wanted = "call" if package_type == "call_spread" else "put"
        if len(options) != 2 or others or any(leg.option_type != wanted for _, leg in options):
            return [f"a {package_type.replace('_', ' ')} is two {wanted}s"]
        (_, a), (_, b) = options
        errors = []
        if a.expiry_years != b.expiry_years:
            errors.append(f"a {package_type.replace('_', ' ')}'s legs have the same expiry")
        if a.strike == b.strike:
            errors.append(f"a {package_type.replace('_', ' ')}'s legs have different strikes")
        if a.side == b.side:
            errors.append(f"a {package_type.replace('_', ' ')} buys one leg and sells the other")
        return errors
    if package_type == "calendar":
        if len(options) != 2 or others or options[0][1].option_type != options[1][1].option_type:
            return ["a calendar is two options of the same type"]
        (_, a), (_, b) = options
        errors = []
        if a.strike != b.strike:
            errors.append("a calendar's legs have the same strike")
        if a.expiry_years == b.expiry_years:
            errors.append("a calendar's legs have different expiries")
        if a.side == b.side:
            errors.append("a calendar buys one expiry and sells the other")
        return errors
    return []


def package_legs_check(package_type: str, legs: Sequence[PackageLeg]) -> list[str]:
    """Every inconsistency of ``legs`` as the package ``package_type`` (empty when consistent)."""
    if package_type == "single" or len(legs) < 2:
        return []
    errors = []
    underlyings = sorted({leg.underlying for leg in legs})
    if len(underlyings) > 1:
        errors.append(f"a package's legs are on one underlying, not {', '.join(underlyings)}")
    units = {leg.quantity / leg.ratio for leg in legs if leg.ratio > 0}
    if len(units) > 1:
        sizes = ", ".join(f"leg {n}: {leg.quantity:g} at ratio {leg.ratio}" for n, leg in enumerate(legs, start=1))
        errors.append(f"leg quantities are not in the legs' ratios ({sizes})")
    return errors + _shape_errors(package_type, legs)


@dataclass(frozen=True)
class PackageRisk:
    """Exposures of the whole package (``delta`` in units of the underlying, ``vega`` per 1.00 of vol, ``value`` its
    mark, ``gross`` the sum of the legs' absolute marks, quote currency) and the standard deviation of its value over
    one second, as a package and as the sum of its legs taken alone (quote currency)."""

    value: float
    gross: float
    delta: float
    vega: float
    sd_per_s: float
    sum_of_legs_sd_per_s: float

    @property
    def diversification(self) -> float:
        """Package sd / sum of the legs' sd (1 when nothing offsets, 0 for a perfect hedge)."""
        return self.sd_per_s / self.sum_of_legs_sd_per_s if self.sum_of_legs_sd_per_s > 0 else 1.0

    def volatility_of_gross(self) -> float:
        """The package's annualized volatility as a fraction of its gross mark (what the decision's delay cost uses)."""
        return self.sd_per_s * math.sqrt(SECONDS_PER_YEAR) / self.gross if self.gross > 0 else 0.0


def leg_exposures(
    legs: Sequence[PackageLeg], *, spot: float, vol: float, rate: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per leg: its signed mark and its ``(Δ, ν)`` exposure (quote currency per unit of S and of σ), n × 2. An option
    is priced at its own ``implied_vol`` when it has one, else at ``vol``."""
    marks = np.zeros(len(legs))
    exposures = np.zeros((len(legs), 2))
    for i, leg in enumerate(legs):
        sign = 1.0 if leg.side == "buy" else -1.0
        size = sign * leg.quantity * leg.multiplier
        if leg.kind == "option":
            t = max(float(leg.expiry_years or 0.0), 1e-9)
            sigma = vol if leg.implied_vol is None else leg.implied_vol
            bs = black_scholes(spot, float(leg.strike or spot), t, rate, sigma, leg.option_type)
            marks[i] = size * float(bs.price)
            exposures[i] = (size * float(bs.delta), size * float(bs.vega))
        else:
            marks[i] = size * spot
            exposures[i] = (size, 0.0)
    return marks, exposures


def factor_covariance(
    *, spot: float, vol: float, vol_of_vol: float, spot_vol_correlation: float, dt: float
) -> np.ndarray:
    """Covariance of (dS, dσ) over ``dt`` years."""
    s_sd = spot * vol * math.sqrt(dt)
    v_sd = vol_of_vol * vol * math.sqrt(dt)
    cross = spot_vol_correlation * s_sd * v_sd
    return np.array([[s_sd**2, cross], [cross, v_sd**2]])


def package_risk(
    legs: Sequence[PackageLeg],
    *,
    spot: float,
    vol: float,
    rate: float = 0.0,
    vol_of_vol: float = 1.0,
    spot_vol_correlation: float = -0.5,
) -> PackageRisk:
    """The package's marks, exposures and one-second value risk, with the legs' correlation through the shared
    factors (module docstring)."""
    marks, exposures = leg_exposures(legs, spot=spot, vol=vol, rate=rate)
    cov = factor_covariance(
        spot=spot, vol=vol, vol_of_vol=vol_of_vol, spot_vol_correlation=spot_vol_correlation, dt=1 / SECONDS_PER_YEAR
    )
    total = exposures.sum(axis=0)
    package_var = float(total @ cov @ total)
    leg_sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", exposures, cov, exposures), 0.0))
    return PackageRisk(
        value=float(marks.sum()),
        gross=float(np.abs(marks).sum()),
        delta=float(total[0]),
        vega=float(total[1]),
        sd_per_s=math.sqrt(max(package_var, 0.0)),
        sum_of_legs_sd_per_s=float(leg_sd.sum()),
    )
