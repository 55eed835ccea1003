"""The desk's implied-volatility surface: fitted to the market's quotes, and the marks it gives (pure).

Floats and numpy arrays only: no ORM (:mod:`desk.marks` stores the fits and loads the surface an option is marked
with).

Parametrization
---------------
The surface of :mod:`desk.pricing` (:class:`~desk.pricing.VolSurfaceConfig`, :func:`~desk.pricing.surface_vol`):
``σ(k, T) = atm(T) + skew(T)·k + curvature(T)·k²`` in log-moneyness ``k = ln(K / F)``, ``F = S·exp(r·T)``, with
``atm(T) = atm_long + (atm_short − atm_long)·exp(−T / term_decay)``. Five numbers are fitted
(:class:`SurfaceParameters`): ``atm_short``, ``atm_long``, ``term_decay_days``, ``skew_30d`` and ``curvature_30d``; the
floor, the cap and the shortest expiry the smile is scaled for (``min_days``) stay those of the underlying's reference
surface.

Fit
---
Weighted least squares of the model's volatility against each quote's mid volatility, ``(bid + ask) / 2``, each
residual weighted by the quote's half spread (a tight quote says more), by Levenberg–Marquardt on
``(ln atm_short, ln atm_long, ln term_decay_days, skew_30d, curvature_30d)`` (the logs keep the first three positive)
with a central-difference Jacobian: five parameters and a few hundred quotes, so a few dozen iterations of a 5 × 5
solve. The term structure has three parameters, so the quotes must span at least three expiries.

Refusals (:class:`SurfaceRefused`): a quote that is not a finite number, a crossed quote (bid above ask), fewer
quotes or expiries than :class:`FitRules` asks, or a fit whose root-mean-square error exceeds its limit. The caller
keeps its previous surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from desk.pricing import BlackScholesResult, VolSurfaceConfig, black_scholes, surface_vol

# Days bounds on the term structure's decay: beyond them the term structure is flat for every listed expiry.
_DECAY_DAYS_BOUNDS = (0.5, 3_650.0)


@dataclass(frozen=True)
class SurfaceQuotes:
    """The market's implied-volatility quotes of one underlying, as parallel arrays (one entry per expiry and strike).

    Attributes
    ----------
    t_years : ndarray of float
        Time to expiry, years, > 0.
    log_moneyness : ndarray of float
        ``ln(K / F)`` with ``F = S·exp(r·T)``, dimensionless.
    bid_vol, ask_vol : ndarray of float
        Bid and ask implied volatility, annualized fractions.
    """

    t_years: npt.NDArray[np.float64]
    log_moneyness: npt.NDArray[np.float64]
    bid_vol: npt.NDArray[np.float64]
    ask_vol: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        *,
        spot: float,
        rate: float,
        strike: npt.ArrayLike,
        t_years: npt.ArrayLike,
        bid_vol: npt.ArrayLike,
        ask_vol: npt.ArrayLike,
    ) -> SurfaceQuotes:
        """From strikes (quote currency) and the underlying's price ``spot`` the quotes were made against.

        Raises
        ------
        SurfaceRefused
            On a non-positive or non-finite spot, strike or expiry, or arrays of different lengths.
        """
        arrays = [np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (strike, t_years, bid_vol, ask_vol)]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise SurfaceRefused("the quotes' strikes, expiries, bids and asks must be arrays of one length")
        k, t, bid, ask = arrays
        if not (math.isfinite(spot) and spot > 0):
            raise SurfaceRefused(f"the underlying price the quotes refer to must be positive, not {spot!r}")
        if not (np.all(np.isfinite(k)) and np.all(k > 0) and np.all(np.isfinite(t)) and np.all(t > 0)):
            raise SurfaceRefused("every quote needs a positive strike and an expiry in the future")
        return cls(t_years=t, log_moneyness=np.log(k / (spot * np.exp(rate * t))), bid_vol=bid, ask_vol=ask)

    def __len__(self) -> int:
        return int(self.t_years.size)


@dataclass(frozen=True)
class SurfaceParameters:
    """The fitted numbers of the surface (annualized volatilities, days, dσ/dk and d²σ/dk² / 2 at 30 days)."""

    atm_short: float
    atm_long: float
    term_decay_days: float
    skew_30d: float
    curvature_30d: float

    @classmethod
    def of_config(cls, config: VolSurfaceConfig, *, atm_short: float) -> SurfaceParameters:
        """The parameters of a configured surface whose short end is ``atm_short``."""
        return cls(
            atm_short=atm_short,
            atm_long=config.atm_long,
            term_decay_days=config.term_decay_days,
            skew_30d=config.skew_30d,
            curvature_30d=config.curvature_30d,
        )

    def config(self, base: VolSurfaceConfig) -> VolSurfaceConfig:
        """``base`` (floor, cap, ``min_days``) with these parameters."""
        return replace(
            base,
            atm_long=self.atm_long,
            term_decay_days=self.term_decay_days,
            skew_30d=self.skew_30d,
            curvature_30d=self.curvature_30d,
        )

    def vol(
        self, log_moneyness: npt.ArrayLike, t_years: npt.ArrayLike, *, base: VolSurfaceConfig
    ) -> npt.NDArray[np.float64]:
        """Implied volatility at ``k = ln(K / F)`` and ``t_years`` (see :func:`desk.pricing.surface_vol`)."""
        return surface_vol(log_moneyness, t_years, atm_short=self.atm_short, config=self.config(base))

    def as_dict(self) -> dict[str, float]:
        return {
            "atm_short": self.atm_short,
            "atm_long": self.atm_long,
            "term_decay_days": self.term_decay_days,
            "skew_30d": self.skew_30d,
            "curvature_30d": self.curvature_30d,
        }


class SurfaceRefused(ValueError):
    """The quotes cannot give a surface (too few, crossed, not numbers) or the fit is too poor to mark with."""


@dataclass(frozen=True)
class FitRules:
    """What a fit needs.

    Attributes
    ----------
    min_quotes : int
        Fewest quotes (expiry and strike pairs).
    min_expiries : int
        Fewest distinct expiries (the term structure has three parameters).
    max_rms_error_vol : float
        Largest root-mean-square error of the fitted volatility against the quotes' mids, annualized volatility
        (0.02 is two vol points).
    """

    min_quotes: int = 10
    min_expiries: int = 3
    max_rms_error_vol: float = 0.02


@dataclass(frozen=True)
class SurfaceFit:
    """A fitted surface and how well it fits.

    Attributes
    ----------
    parameters : SurfaceParameters
    n_quotes : int
        Quotes used.
    n_expiries : int
        Distinct expiries among them.
    rms_error_vol : float
        Root-mean-square of (fitted − mid) volatility, annualized.
    max_error_vol : float
        Largest absolute (fitted − mid) volatility.
    inside_share : float
        Share of the quotes whose fitted volatility lies within their bid and ask.
    iterations : int
        Levenberg–Marquardt iterations taken.
    """

    parameters: SurfaceParameters
    n_quotes: int
    n_expiries: int
    rms_error_vol: float
    max_error_vol: float
    inside_share: float
    iterations: int


def quotes_check(quotes: SurfaceQuotes, *, rules: FitRules) -> None:
    """Raise :class:`SurfaceRefused` naming the first reason the quotes cannot be fitted."""
    bid, ask = quotes.bid_vol, quotes.ask_vol
    not_numbers = int(np.sum(~(np.isfinite(bid) & np.isfinite(ask))))
    if not_numbers:
        raise SurfaceRefused(f"{not_numbers} quote(s) without a finite bid and ask volatility")
    crossed = int(np.sum(bid > ask))
    if crossed:
        raise SurfaceRefused(f"{crossed} crossed quote(s) (bid volatility above ask) among {len(quotes)}")
    if np.any(bid < 0):
        raise SurfaceRefused("a negative bid volatility")
    if len(quotes) < rules.min_quotes:
        raise SurfaceRefused(f"too few quotes: {len(quotes)}, at least {rules.min_quotes} needed")
    expiries = int(np.unique(np.round(quotes.t_years * 365.0 * 24.0, 6)).size)
    if expiries < rules.min_expiries:
        raise SurfaceRefused(f"too few expiries: {expiries}, at least {rules.min_expiries} needed")


def _unpack(theta: npt.NDArray[np.float64]) -> SurfaceParameters:
    return SurfaceParameters(
        atm_short=float(math.exp(theta[0])),
        atm_long=float(math.exp(theta[1])),
        term_decay_days=float(math.exp(theta[2])),
        skew_30d=float(theta[3]),
        curvature_30d=float(theta[4]),
    )


def _pack(parameters: SurfaceParameters) -> npt.NDArray[np.float64]:
    decay = min(max(parameters.term_decay_days, _DECAY_DAYS_BOUNDS[0]), _DECAY_DAYS_BOUNDS[1])
    return np.array(
        [
            math.log(max(parameters.atm_short, 1e-4)),
            math.log(max(parameters.atm_long, 1e-4)),
            math.log(decay),
            parameters.skew_30d,
            parameters.curvature_30d,
        ]
    )


def _start(quotes: SurfaceQuotes, base: VolSurfaceConfig) -> SurfaceParameters:
    """A start from the quotes: the mid volatility nearest the money at the shortest and the longest expiry."""
    mid = 0.5 * (quotes.bid_vol + quotes.ask_vol)
    t = quotes.t_years
    near = np.abs(quotes.log_moneyness)
    short = t == t.min()
    long = t == t.max()
    atm_short = float(mid[short][np.argmin(near[short])])
    atm_long = float(mid[long][np.argmin(near[long])])
    return SurfaceParameters(
        atm_short=atm_short,
        atm_long=atm_long,
        term_decay_days=base.term_decay_days,
        skew_30d=base.skew_30d,
        curvature_30d=base.curvature_30d,
    )


def surface_fit(
    quotes: SurfaceQuotes,
    *,
    base: VolSurfaceConfig,
    rules: FitRules | None = None,
    start: SurfaceParameters | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-12,
) -> SurfaceFit:
    """Fit the surface's parameters to the quotes (module docstring).

    Parameters
    ----------
    quotes : SurfaceQuotes
        The market's quotes of one underlying.
    base : VolSurfaceConfig
        The underlying's reference surface: its floor, cap and ``min_days`` are kept, its shape starts the fit.
    rules : FitRules, optional
        What a fit needs (defaults of :class:`FitRules`).
    start : SurfaceParameters, optional
        Where the search starts (the previous fit, say); from the quotes' at-the-money levels when omitted.
    max_iterations : int
        Upper bound on Levenberg–Marquardt iterations.
    tolerance : float
        Stop when the weighted sum of squares improves by less than this fraction.

    Returns
    -------
    SurfaceFit

    Raises
    ------
    SurfaceRefused
        Quotes that cannot be fitted, or a fit whose error exceeds ``rules.max_rms_error_vol``.
    """
    rules = rules or FitRules()
    quotes_check(quotes, rules=rules)
    k, t = quotes.log_moneyness, quotes.t_years
    mid = 0.5 * (quotes.bid_vol + quotes.ask_vol)
    # A tight quote says more than a wide one; a floor keeps a zero-width quote from taking the whole fit.
    weight = 1.0 / np.maximum(0.5 * (quotes.ask_vol - quotes.bid_vol), 0.0025)

    def residuals(theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return weight * (_unpack(theta).vol(k, t, base=base) - mid)

    theta = _pack(start or _start(quotes, base))
    theta[2] = min(max(theta[2], math.log(_DECAY_DAYS_BOUNDS[0])), math.log(_DECAY_DAYS_BOUNDS[1]))
    r = residuals(theta)
    cost = float(r @ r)
    damping = 1e-3
    gain = math.inf
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        jacobian = np.empty((r.size, theta.size))
        for j in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            jacobian[:, j] = (residuals(up) - residuals(down)) / (2.0 * h)
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ r
        improved = False
        while damping < 1e12:
            lhs = normal + damping * np.diag(np.diag(normal) + 1e-12)
            try:
                step = np.linalg.solve(lhs, -gradient)
            except np.linalg.LinAlgError:
                damping *= 10.0
                continue
            candidate = theta + step
            candidate[2] = min(max(candidate[2], math.log(_DECAY_DAYS_BOUNDS[0])), math.log(_DECAY_DAYS_BOUNDS[1]))
            r_new = residuals(candidate)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                gain = (cost - cost_new) / max(cost, 1e-300)
                theta, r, cost = candidate, r_new, cost_new
                damping = max(damping / 10.0, 1e-12)
                improved = True
                break
            damping *= 10.0
        if not improved or gain < tolerance:
            break

    parameters = _unpack(theta)
    fitted = parameters.vol(k, t, base=base)
    error = fitted - mid
    rms = float(np.sqrt(np.mean(error * error)))
    if not math.isfinite(rms) or rms > rules.max_rms_error_vol:
        raise SurfaceRefused(
            f"the fit misses the quotes by {rms:.4f} in volatility (root mean square), more than "
            f"{rules.max_rms_error_vol:.4f}"
        )
    inside = (fitted >= quotes.bid_vol - 1e-12) & (fitted <= quotes.ask_vol + 1e-12)
    return SurfaceFit(
        parameters=parameters,
        n_quotes=len(quotes),
        n_expiries=int(np.unique(np.round(t * 365.0 * 24.0, 6)).size),
        rms_error_vol=rms,
        max_error_vol=float(np.max(np.abs(error))),
        inside_share=float(np.mean(inside)),
        iterations=iterations,
    )


# --- marking with a surface ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkSurface:
    """The surface an underlying's options are marked with: the desk's latest fit, or its reference surface.

    Attributes
    ----------
    underlying : str
        Underlying code.
    parameters : SurfaceParameters
    base : VolSurfaceConfig
        The reference surface whose floor, cap and ``min_days`` the parameters complete.
    rate : float
        Risk-free rate of the forward and of Black–Scholes, continuously compounded, per year.
    source : {'fitted', 'reference'}
        A fit of the market's quotes, or the reference surface while the desk has none.
    surface_id : int or None
        The stored fit's id (None for the reference surface).
    """

    underlying: str
    parameters: SurfaceParameters
    base: VolSurfaceConfig
    rate: float
    source: str
    surface_id: int | None = None

    def vol(self, *, spot: float, strike: npt.ArrayLike, t_years: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Implied volatility of strikes (quote currency) and expiries (years) with the underlying at ``spot``."""
        t = np.maximum(np.asarray(t_years, dtype=np.float64), 0.0)
        forward = spot * np.exp(self.rate * t)
        k = np.log(np.asarray(strike, dtype=np.float64) / forward)
        return self.parameters.vol(k, t, base=self.base)

    def price(
        self, *, spot: float, strike: npt.ArrayLike, t_years: npt.ArrayLike, kind: str | npt.ArrayLike
    ) -> BlackScholesResult:
        """Black–Scholes value and greeks per unit of the underlying at the surface's volatility."""
        vol = self.vol(spot=spot, strike=strike, t_years=t_years)
        return black_scholes(spot, strike, t_years, self.rate, vol, kind)
