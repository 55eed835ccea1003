"""Pre-trade estimates and their calibration: pure functions, no database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from execution import kernels
from tca import calibration, pretrade

SIGMA_DAILY = pretrade.daily_volatility(0.65)
MID = 100_000.0
ADV = 20_000.0


def test_sqrt_law_cost_scales_like_the_square_root_of_size() -> None:
    # given two orders, one four times the other, and no spread
    small = pretrade.sqrt_law_cost(10.0, ADV, SIGMA_DAILY, spread_bps=0.0, y=0.7)
    large = pretrade.sqrt_law_cost(40.0, ADV, SIGMA_DAILY, spread_bps=0.0, y=0.7)

    # then the larger costs twice as much
    assert large == pytest.approx(2.0 * small, rel=1e-12)
    # and the cost is Y sigma sqrt(Q / ADV) in bps
    assert small == pytest.approx(0.7 * SIGMA_DAILY * math.sqrt(10.0 / ADV) * 1e4)


def test_sqrt_law_cost_adds_half_the_spread_which_does_not_scale() -> None:
    # when the spread is 4 bps
    small = pretrade.sqrt_law_cost(10.0, ADV, SIGMA_DAILY, spread_bps=4.0)
    large = pretrade.sqrt_law_cost(40.0, ADV, SIGMA_DAILY, spread_bps=4.0)

    # then each pays 2 bps of spread and the impact alone doubles
    assert large - 2.0 == pytest.approx(2.0 * (small - 2.0))


def test_sqrt_law_refuses_a_market_without_volume() -> None:
    with pytest.raises(ValueError, match="adv"):
        pretrade.sqrt_law_cost(1.0, 0.0, SIGMA_DAILY, 1.0)


def _parameters(quantity: float = 100.0, **overrides: float) -> pretrade.AlmgrenChrissParameters:
    return pretrade.almgren_chriss_parameters(
        quantity=quantity, mid=MID, sigma_daily=SIGMA_DAILY, adv=ADV, half_spread_bps=1.5, **overrides
    )


def test_almgren_chriss_estimate_matches_the_kernel() -> None:
    # given the parameters of a 100-coin order
    parameters = _parameters()

    # when it is estimated over an hour in 60 periods
    estimate = pretrade.almgren_chriss_estimate(
        quantity=100.0, mid=MID, horizon_s=3_600.0, periods=60, parameters=parameters
    )

    # then the expected cost and its deviation are the kernel's, in bps of the notional
    holdings, expected, variance = kernels.almgren_chriss(
        100.0,
        3_600.0,
        60,
        parameters.sigma,
        parameters.eta,
        parameters.gamma,
        parameters.risk_aversion,
        parameters.epsilon,
    )
    notional = 100.0 * MID
    assert estimate.expected_bps == pytest.approx(expected / notional * 1e4, rel=1e-12)
    assert estimate.std_bps == pytest.approx(math.sqrt(variance) / notional * 1e4, rel=1e-12)
    assert estimate.holdings == pytest.approx(tuple(holdings))
    assert estimate.objective == pytest.approx(expected + parameters.risk_aversion * variance)
    # and its parts add up to it, the spread being the venue's half spread on every coin
    assert sum(estimate.parts.values()) == pytest.approx(estimate.expected_bps, rel=1e-12)
    assert estimate.parts["half_spread"] == pytest.approx(1.5)


def test_linear_impact_agrees_with_the_sqrt_law_at_the_reference_participation() -> None:
    # given a TWAP (no risk aversion) over the horizon at which the order is 10 % of the volume
    parameters = _parameters(risk_aversion=0.0)
    horizon_s = 100.0 / (0.10 * ADV) * pretrade.SECONDS_PER_DAY

    # when it is estimated without the permanent part's influence
    estimate = pretrade.almgren_chriss_estimate(
        quantity=100.0, mid=MID, horizon_s=horizon_s, periods=50, parameters=parameters
    )

    # then its temporary impact is the square-root law's (up to the kernel's gamma tau / 2 correction)
    expected = pretrade.sqrt_law_impact(100.0, ADV, SIGMA_DAILY)
    assert estimate.parts["impact_temporary"] == pytest.approx(expected, rel=0.01)


def test_recommended_horizon_is_the_argmin_of_the_objective_and_shortens_with_risk_aversion() -> None:
    # given a grid of horizons
    grid_s = pretrade.DEFAULT_HORIZONS_S

    # when the horizon is chosen for a calm and a nervous desk
    calm, calm_grid = pretrade.recommended_horizon(
        quantity=100.0, mid=MID, parameters=_parameters(risk_aversion_bps=0.001), horizons_s=grid_s
    )
    nervous, _ = pretrade.recommended_horizon(
        quantity=100.0, mid=MID, parameters=_parameters(risk_aversion_bps=1.0), horizons_s=grid_s
    )

    # then each is the least E + lambda V of its grid, and the nervous desk trades faster
    assert calm.objective == min(g.objective for g in calm_grid)
    assert [g.horizon_s for g in calm_grid] == sorted(grid_s)
    assert nervous.horizon_s < calm.horizon_s
    assert nervous.std_bps < calm.std_bps


def test_cost_band_is_a_normal_band_of_the_combined_deviation() -> None:
    band = pretrade.cost_band(10.0, std_bps=[3.0, 4.0], level=0.90)

    assert band.high_bps - 10.0 == pytest.approx(1.6448536 * 5.0, rel=1e-6)
    assert band.low_bps == pytest.approx(20.0 - band.high_bps)


def test_compare_paths_parts_add_up_and_the_cheap_path_is_recommended() -> None:
    # given a tiny order, for which the dealers' spread dominates, and a very large one, which would crush the book
    cheap_dealer = pretrade.DealerTerms(half_spread_bps=1.0, size_spread_bps_per_million=0.0, leakage_bps=0.0)
    dear_dealer = pretrade.DealerTerms(half_spread_bps=50.0, size_spread_bps_per_million=5.0, leakage_bps=5.0)
    common = {"mid": MID, "adv": ADV, "sigma_daily": SIGMA_DAILY, "half_spread_bps": 1.0}

    # when the paths are compared
    small = pretrade.compare_paths(quantity=0.5, dealer=dear_dealer, **common)
    huge = pretrade.compare_paths(quantity=5_000.0, dealer=cheap_dealer, **common)

    # then the small order goes to the algorithm and the huge one to the dealers
    assert small.recommended == "algo"
    assert huge.recommended == "rfq"
    for quantity, comparison in ((0.5, small), (5_000.0, huge)):
        assert [p.name for p in comparison.paths] == ["rfq", "algo", "split"]
        for path in comparison.paths:
            assert sum(path.parts.values()) == pytest.approx(path.expected_bps, rel=1e-12)
            assert path.band.low_bps <= path.expected_bps <= path.band.high_bps
            assert path.expected_cost == pytest.approx(path.expected_bps * quantity * MID / 1e4)
    # and the RFQ costs half the typical dealer spread for the size plus the leakage
    rfq = small.paths[0]
    assert rfq.expected_bps == pytest.approx(50.0 + 5.0 * 0.5 * MID / 1e6 + 5.0)


def test_split_pays_the_leakage_on_the_whole_order() -> None:
    dealer = pretrade.DealerTerms(leakage_bps=3.0)
    comparison = pretrade.compare_paths(
        quantity=50.0, mid=MID, adv=ADV, sigma_daily=SIGMA_DAILY, half_spread_bps=1.0, dealer=dealer
    )
    split = comparison.paths[2]

    assert 0.0 < split.rfq_share < 1.0
    assert split.parts["leakage"] == 3.0


def test_pretrade_estimate_holds_both_models_and_the_paths() -> None:
    market = pretrade.MarketInputs(mid=MID, half_spread_bps=1.5, volatility_annual=0.65, adv=ADV, adv_source="test")

    estimate = pretrade.pretrade_estimate(quantity=25.0, market=market, y=0.6, y_std_error=0.1, residual_bps=2.0)

    sqrt_law = estimate["sqrt_law"]
    assert sqrt_law["cost_bps"] == pytest.approx(pretrade.sqrt_law_cost(25.0, ADV, SIGMA_DAILY, 3.0, 0.6))
    assert sum(sqrt_law["parts"].values()) == pytest.approx(sqrt_law["cost_bps"])
    assert sqrt_law["band"]["low_bps"] < sqrt_law["cost_bps"] < sqrt_law["band"]["high_bps"]
    ac = estimate["almgren_chriss"]
    assert ac["horizon_s"] in pretrade.DEFAULT_HORIZONS_S
    assert len(ac["grid"]) == len(pretrade.DEFAULT_HORIZONS_S)
    assert estimate["recommended"] in {p["name"] for p in estimate["paths"]}


# --- calibration -----------------------------------------------------------------------------------------------------


def _synthetic_orders(y: float, n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    quantity = np.exp(rng.uniform(np.log(0.5), np.log(500.0), n))
    adv = rng.uniform(10_000.0, 30_000.0, n)
    sigma = rng.uniform(0.02, 0.05, n)
    impact = y * sigma * np.sqrt(quantity / adv) * 1e4 + rng.normal(0.0, 2.0, n)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "quantity": quantity,
            "adv": adv,
            "sigma_daily": sigma,
            "impact_bps": impact,
            "time": [start + timedelta(hours=i) for i in range(n)],
        }
    )


def test_calibration_recovers_a_known_coefficient() -> None:
    # given 400 orders whose impact follows the square-root law with Y = 0.8, plus 2 bps of noise
    orders = _synthetic_orders(0.8, 400)

    # when Y is fitted
    fit = calibration.sqrt_coefficient_fit(orders)

    # then it finds 0.8, says how sure it is, and on what
    assert not fit.is_default
    assert fit.coefficient == pytest.approx(0.8, abs=0.03)
    assert abs(fit.coefficient - 0.8) < 3 * fit.std_error
    assert fit.residual_bps == pytest.approx(2.0, rel=0.15)
    assert fit.r_squared > 0.9
    assert fit.n == 400
    assert fit.window_start.startswith("2026-11-01T00:00")
    assert fit.window_end.startswith("2026-11-17T15:00")


def test_calibration_counts_unusable_orders_and_does_not_fit_on_them() -> None:
    orders = _synthetic_orders(0.8, 60)
    orders.loc[:9, "impact_bps"] = np.nan

    fit = calibration.sqrt_coefficient_fit(orders)

    assert fit.n == 50
    assert fit.unusable == 10
    assert fit.coefficient == pytest.approx(0.8, abs=0.1)


def test_calibration_without_data_gives_the_defaults_flagged_as_such() -> None:
    # given no fills at all, then a handful
    empty = calibration.sqrt_coefficient_fit(pd.DataFrame(columns=list(calibration.OBSERVATION_COLUMNS)))
    few = calibration.sqrt_coefficient_fit(_synthetic_orders(0.8, 5))

    # then both are the documented default, flagged, and say why
    for fit in (empty, few):
        assert fit.is_default
        assert fit.coefficient == pretrade.DEFAULT_SQRT_COEFFICIENT
        assert fit.std_error == calibration.DEFAULT_SQRT_COEFFICIENT_STD_ERROR
        assert "not a fit" in fit.note
    assert empty.n == 0
    assert few.n == 5
    assert few.as_dict()["r_squared"] is None


def test_dealer_fit_recovers_spread_and_size_slope() -> None:
    rng = np.random.default_rng(11)
    notional = rng.uniform(1e5, 2e7, 200)
    cost = 3.0 + 4.0 * notional / 1e6 + rng.normal(0.0, 0.5, 200)

    fit = calibration.dealer_terms_fit(pd.DataFrame({"notional": notional, "cost_bps": cost}))

    assert not fit.is_default
    assert fit.terms.half_spread_bps == pytest.approx(3.0, abs=0.2)
    assert fit.terms.size_spread_bps_per_million == pytest.approx(4.0, abs=0.05)
    assert fit.terms.std_bps == pytest.approx(0.5, rel=0.2)


def test_dealer_fit_without_data_is_the_default() -> None:
    fit = calibration.dealer_terms_fit(pd.DataFrame(columns=["notional", "cost_bps"]))

    assert fit.is_default
    assert fit.terms == pretrade.DealerTerms()


def test_order_observations_cost_each_parent_order_against_its_arrival_mid() -> None:
    # given an algorithm order bought 4 at 100.20 and 6 at 100.10 against an arrival mid of 100 (half spread 0.05)
    fills = pd.DataFrame(
        {
            "order_id": ["p1", "p1", "q1"],
            "instrument": ["BTC-USD"] * 3,
            "algo": ["twap", "twap", "rfq"],
            "side": [1, 1, -1],
            "quantity": [4.0, 6.0, 2.0],
            "price": [100.20, 100.10, 99.0],
            "half_spread_at_fill": [0.05, 0.05, 1.0],
            "time": pd.to_datetime(["2026-11-20T10:00Z", "2026-11-20T10:05Z", "2026-11-20T11:00Z"]),
        }
    )
    orders = pd.DataFrame({"order_id": ["p1", "q1"], "side": [1, -1], "arrival_mid": [100.0, 100.0]})

    # when the orders are observed
    observed = calibration.order_observations(fills, orders).set_index("order_id")

    # then the cost is the VWAP against the arrival mid, and the impact what is beyond the half spread
    assert observed.loc["p1", "cost_bps"] == pytest.approx(14.0)
    assert observed.loc["p1", "impact_bps"] == pytest.approx(9.0)
    assert observed.loc["q1", "cost_bps"] == pytest.approx(100.0)
    # and only the algorithm order feeds the impact fit, in coins
    market = pd.DataFrame({"instrument": ["BTC-USD"], "multiplier": [1.0], "adv": [ADV], "sigma_daily": [0.03]})
    impact = calibration.impact_observations(observed.reset_index(), market)
    assert impact["quantity"].tolist() == [10.0]
    assert calibration.dealer_observations(observed.reset_index())["cost_bps"].tolist() == pytest.approx([100.0])
