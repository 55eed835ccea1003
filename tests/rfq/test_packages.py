"""Packages: the leg shapes each package type needs, and the package's risk with the legs' correlation, checked
against a full Black–Scholes revaluation under simulated factor moves (an independent Monte-Carlo reference)."""

from __future__ import annotations

import numpy as np
import pytest

from desk.pricing import black_scholes
from rfq.packages import SECONDS_PER_YEAR, PackageLeg, factor_covariance, package_legs_check, package_risk


def _opt(option_type: str, strike: float, side: str = "buy", expiry: float = 0.25, quantity: float = 1.0) -> PackageLeg:
    return PackageLeg(
        kind="option",
        underlying="BTC",
        side=side,
        quantity=quantity,
        option_type=option_type,
        strike=strike,
        expiry_years=expiry,
    )


@pytest.mark.parametrize(
    ("package_type", "legs"),
    [
        ("straddle", [_opt("call", 60e3), _opt("put", 60e3)]),
        ("strangle", [_opt("call", 70e3), _opt("put", 50e3)]),
        ("collar", [_opt("put", 50e3), _opt("call", 70e3, side="sell")]),
        ("call_spread", [_opt("call", 60e3), _opt("call", 70e3, side="sell")]),
        ("put_spread", [_opt("put", 60e3), _opt("put", 50e3, side="sell")]),
        ("calendar", [_opt("call", 60e3, expiry=0.1), _opt("call", 60e3, side="sell", expiry=0.3)]),
    ],
)
def test_well_formed_packages_pass(package_type: str, legs: list[PackageLeg]) -> None:
    assert package_legs_check(package_type, legs) == []


@pytest.mark.parametrize(
    ("package_type", "legs", "message"),
    [
        ("straddle", [_opt("call", 60e3), _opt("put", 50e3)], "same strike"),
        ("straddle", [_opt("call", 60e3), _opt("call", 60e3)], "one call and one put"),
        ("strangle", [_opt("call", 50e3), _opt("put", 70e3)], "put strike is below"),
        ("collar", [_opt("put", 50e3), _opt("call", 70e3)], "buys one option and sells the other"),
        ("call_spread", [_opt("call", 60e3), _opt("call", 60e3, side="sell")], "different strikes"),
        ("calendar", [_opt("call", 60e3), _opt("call", 60e3, side="sell")], "different expiries"),
        ("straddle", [_opt("call", 60e3), _opt("put", 60e3, quantity=2.0)], "not in the legs' ratios"),
        (
            "custom",
            [_opt("call", 60e3), PackageLeg(kind="spot", underlying="ETH", side="buy", quantity=1.0)],
            "one underlying",
        ),
    ],
)
def test_inconsistent_packages_are_named(package_type: str, legs: list[PackageLeg], message: str) -> None:
    errors = package_legs_check(package_type, legs)
    assert any(message in error for error in errors), errors


def _monte_carlo_sd(legs: list[PackageLeg], spot: float, vol: float, dt: float, n: int = 200_000) -> float:
    """Standard deviation of the package's full revaluation after correlated (dS, dσ) moves over ``dt``."""
    cov = factor_covariance(spot=spot, vol=vol, vol_of_vol=1.0, spot_vol_correlation=-0.5, dt=dt)
    moves = np.random.default_rng(0).multivariate_normal([0.0, 0.0], cov, size=n)
    s, v = spot + moves[:, 0], vol + moves[:, 1]
    value = np.zeros(n)
    for leg in legs:
        sign = 1.0 if leg.side == "buy" else -1.0
        priced = black_scholes(s, leg.strike, leg.expiry_years, 0.0, v, leg.option_type)
        base = black_scholes(spot, leg.strike, leg.expiry_years, 0.0, vol, leg.option_type)
        value += sign * leg.quantity * (np.asarray(priced.price) - float(base.price))
    return float(value.std())


@pytest.mark.parametrize(
    "legs",
    [
        [_opt("call", 60e3), _opt("put", 60e3)],
        [_opt("call", 60e3), _opt("call", 70e3, side="sell")],
        [_opt("put", 50e3), _opt("call", 70e3, side="sell")],
    ],
)
def test_package_risk_matches_a_full_revaluation_and_is_below_the_sum_of_its_legs(legs: list[PackageLeg]) -> None:
    spot, vol, dt = 60e3, 0.6, 60.0 / SECONDS_PER_YEAR  # one minute: small moves, the first order holds
    risk = package_risk(legs, spot=spot, vol=vol)

    reference = _monte_carlo_sd(legs, spot, vol, dt)

    assert risk.sd_per_s * np.sqrt(60.0) == pytest.approx(reference, rel=0.03)
    assert risk.sd_per_s < risk.sum_of_legs_sd_per_s
    assert 0.0 < risk.diversification < 1.0


def test_two_identical_legs_do_not_diversify() -> None:
    legs = [_opt("call", 60e3), _opt("call", 60e3)]

    risk = package_risk(legs, spot=60e3, vol=0.6)

    assert risk.diversification == pytest.approx(1.0, rel=1e-12)
