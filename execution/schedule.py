"""A plan's child schedule from the numba slicing kernels: parameters checked, quantities in contracts (lots × lot
size), times as offsets from the plan's start. Reads no rows and writes none."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from desk.market import SECONDS_PER_DAY, SECONDS_PER_YEAR, NoVenue, UnderlyingReference, underlying_reference
from desk.models import Instrument
from desk.volume import volume_profile
from execution import kernels
from execution.errors import ExecutionRefused
from execution.models import Algorithm

MAX_SLICES = 10_000


@dataclass(frozen=True)
class Schedule:
    """Child quantities (contracts) and their offsets from the plan's start (seconds), non-zero slices only."""

    quantities: list[Decimal]
    offsets_s: list[float]


def _number(parameters: dict[str, Any], name: str, default: float | None, *, low: float, high: float) -> float:
    value = parameters.get(name, default)
    if value is None:
        raise ExecutionRefused({"parameters": f"{name} is required"})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExecutionRefused({"parameters": f"{name} must be a number, not {value!r}"}) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ExecutionRefused({"parameters": f"{name} must be between {low} and {high}, not {value!r}"})
    return number


def _lots(value: Decimal, lot: Decimal, name: str) -> int:
    lots = value / lot
    if lots != lots.to_integral_value():
        raise ExecutionRefused({name: f"{name} {value} is not a whole number of lots of {lot}"})
    return int(lots)


def _weights(
    algorithm: str, parameters: dict[str, Any], slices: int, horizon_s: float, start: datetime
) -> npt.NDArray[np.float64]:
    config = underlying_config_or_refuse(parameters["_underlying"])
    if algorithm == Algorithm.TWAP:
        return np.ones(slices)
    if algorithm == Algorithm.VWAP:
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return volume_profile(
            slices,
            amplitude=config.volume_profile_amplitude,
            start_day_fraction=(start - midnight).total_seconds() / SECONDS_PER_DAY,
            horizon_days=horizon_s / SECONDS_PER_DAY,
        )
    raise AssertionError(algorithm)


def underlying_config_or_refuse(underlying: str) -> UnderlyingReference:
    try:
        return underlying_reference(underlying)
    except NoVenue as error:
        raise ExecutionRefused({"instrument": str(error)}) from None


def plan_schedule(
    *, instrument: Instrument, quantity: Decimal, algorithm: str, parameters: dict[str, Any], start: datetime
) -> Schedule:
    """The child schedule of a plan from the numba kernels, in contracts (lots × lot size), with each child's time
    offset. Raises :class:`ExecutionRefused` on parameters the kernels refuse (nothing is stored).

    Parameters (``parameters``): ``horizon_s`` (> 0, seconds), ``slices`` (periods, default 10), ``min_child`` and
    ``max_child`` (contracts, 0 none), ``size_jitter`` and ``time_jitter`` (fractions in [0, 0.5): TWAP/VWAP weights
    and child times are perturbed by up to that share, seeded by ``seed``, so the tape does not show a metronome);
    POV: ``participation`` (default 0.1) and ``cap`` (default 0.25) of the forecast volume; Almgren-Chriss:
    ``risk_aversion`` (λ, 1/quote ccy, default 1e-6), ``sigma``, ``eta``, ``gamma`` (defaults from the simulated
    market's volatility and impact coefficients, in quote ccy per coin and seconds).
    """
    lot = instrument.lot_size
    horizon_s = _number(parameters, "horizon_s", None, low=1e-3, high=30 * SECONDS_PER_DAY)
    slices = int(_number(parameters, "slices", 10, low=1, high=MAX_SLICES))
    size_jitter = _number(parameters, "size_jitter", 0.0, low=0.0, high=0.49)
    time_jitter = _number(parameters, "time_jitter", 0.0, low=0.0, high=0.49)
    min_child = _lots(Decimal(str(parameters.get("min_child", 0))), lot, "min_child")
    max_child = _lots(Decimal(str(parameters.get("max_child", 0))), lot, "max_child")
    total = _lots(quantity, lot, "quantity")
    rng = np.random.default_rng(int(_number(parameters, "seed", None, low=0, high=2**63 - 1)))
    config = underlying_config_or_refuse(parameters["_underlying"])
    multiplier = float(instrument.multiplier)
    try:
        if algorithm in (Algorithm.TWAP, Algorithm.VWAP):
            weights = _weights(algorithm, parameters, slices, horizon_s, start)
            if size_jitter:
                weights = weights * (1.0 + size_jitter * rng.uniform(-1.0, 1.0, slices))
            lots = kernels.slice_by_weights(total, np.asarray(weights, dtype=np.float64), 1, min_child, max_child)
        elif algorithm == Algorithm.POV:
            participation = _number(parameters, "participation", 0.1, low=1e-6, high=1.0)
            cap = _number(parameters, "cap", 0.25, low=participation, high=1.0)
            profile = _weights(Algorithm.VWAP, parameters, slices, horizon_s, start)
            # Coins the market is expected to trade in each slice, in lots of the instrument.
            forecast = profile * config.daily_volume * horizon_s / SECONDS_PER_DAY / multiplier / float(lot)
            lots, residual = kernels.pov(total, forecast, participation, cap, 1, min_child, max_child)
            if residual:
                raise ExecutionRefused(
                    {"parameters": f"POV at cap {cap} cannot place {residual * lot} contracts within the horizon"}
                )
        elif algorithm == Algorithm.ALMGREN_CHRISS:
            spot = config.spot
            volatility = config.volatility
            sigma = _number(parameters, "sigma", spot * volatility / math.sqrt(SECONDS_PER_YEAR), low=0, high=1e12)
            impact, tau = config.impact, horizon_s / slices
            # The simulator's temporary impact, linearized at the average child (a rate of n/τ coins a second).
            child_coins = max(float(quantity) * multiplier / slices, 1e-12)
            per_coin = spot * impact.temporary_coefficient / impact.reference_volume
            if impact.temporary_form == "sqrt":
                per_coin = spot * impact.temporary_coefficient * math.sqrt(child_coins / impact.reference_volume)
                per_coin /= child_coins
            # TCA's calibrated scale (the desk's own square-root coefficient against the prior), when it has one.
            scale = _number(parameters, "impact_scale", 1.0, low=1e-3, high=1e3)
            gamma_default = scale * spot * impact.permanent_coefficient / impact.reference_volume
            eta_default = max(scale * per_coin * tau, gamma_default * tau)
            eta = _number(parameters, "eta", eta_default, low=1e-18, high=1e12)
            gamma = _number(parameters, "gamma", gamma_default, low=0, high=1e12)
            risk_aversion = _number(parameters, "risk_aversion", 1e-6, low=0, high=1e6)
            lots = kernels.almgren_chriss_schedule(
                total, horizon_s, slices, sigma, eta, gamma, risk_aversion, 1, min_child, max_child
            )
        else:
            raise ExecutionRefused({"algorithm": f"unknown algorithm {algorithm!r}"})
    except (ValueError, ZeroDivisionError) as error:
        raise ExecutionRefused({"parameters": f"the {algorithm} kernel refuses these parameters: {error}"}) from None
    interval = horizon_s / slices
    jitter = time_jitter * rng.uniform(-1.0, 1.0, slices) if time_jitter else np.zeros(slices)
    quantities: list[Decimal] = []
    offsets: list[float] = []
    for k in range(slices):
        if lots[k] > 0:
            quantities.append(int(lots[k]) * lot)
            offsets.append(min(max((k + float(jitter[k])) * interval, 0.0), horizon_s))
    return Schedule(quantities=quantities, offsets_s=offsets)
