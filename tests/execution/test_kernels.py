"""The numba slicing kernels: held to their plain twins, to the slicing invariants, and to Almgren & Chriss (2000)."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from execution import kernels, kernels_ref

PROPERTY = settings(max_examples=60, deadline=None)

# The paper's worked example (Almgren & Chriss 2000, section 2.4 / figure 1): 10^6 shares at $50, 30 % annual
# volatility -> sigma = 0.3 * 50 / sqrt(250) = 0.95 $/share/day^1/2, a 1/8 spread -> epsilon = 1/16,
# eta = 2.5e-6, gamma = 2.5e-7, liquidated over T = 5 days in N = 5 periods.
PAPER = {
    "total": 1e6,
    "horizon": 5.0,
    "periods": 5,
    "sigma": 0.95,
    "eta": 2.5e-6,
    "gamma": 2.5e-7,
    "epsilon": 0.0625,
}


@st.composite
def slicing_requests(draw: st.DrawFn) -> dict:
    """A parent, its lot, child size limits that can hold it, and a weight profile with some zero periods."""
    lot = draw(st.sampled_from([1, 10, 100]))
    periods = draw(st.integers(1, 60))
    total_lots = draw(st.integers(0, 5_000))
    min_lots = draw(st.integers(0, 30))
    capped = draw(st.booleans())
    # When capped, the cap is at least what the parent needs per period, so the request is feasible.
    max_lots = max(min_lots, 1, -(-total_lots // periods)) + draw(st.integers(0, 50)) if capped else 0
    weights = draw(
        st.lists(st.one_of(st.just(0.0), st.floats(0.01, 1_000.0, allow_nan=False)), min_size=periods, max_size=periods)
    )
    assume(sum(weights) > 0.0)
    # min_child and max_child need not be whole lots: the kernels round them inward.
    min_child = max(min_lots * lot - draw(st.integers(0, lot - 1)), 0)
    return {
        "quantity": total_lots * lot,
        "lot": lot,
        "min_child": min_child,
        "max_child": max_lots * lot + (draw(st.integers(0, lot - 1)) if max_lots else 0),
        "weights": np.array(weights),
    }


def assert_valid_schedule(schedule: np.ndarray, quantity: int, lot: int, min_child: int, max_child: int) -> None:
    """The slicing invariants: exact sum, whole lots, size limits, never beyond what remains."""
    assert schedule.dtype == np.int64
    assert int(schedule.sum()) == quantity
    assert np.all(schedule >= 0)
    assert np.all(schedule % lot == 0)
    if max_child:
        assert np.all(schedule <= max_child)
    remaining_before = quantity - np.concatenate(([0], np.cumsum(schedule)[:-1]))
    assert np.all(schedule <= remaining_before)
    assert_min_rule(schedule, remaining_before, min_child)


def assert_min_rule(schedule: np.ndarray, remaining_before: np.ndarray, min_child: int) -> None:
    """Only the child that finishes the parent may be below the minimum, and only when less than it remained."""
    for k in np.flatnonzero((schedule > 0) & (schedule < min_child)):
        assert schedule[k] == remaining_before[k], f"child {k} is below min_child without finishing the parent"


@PROPERTY
@given(request=slicing_requests())
def test_slice_by_weights_matches_twin_and_holds_invariants(request: dict) -> None:
    # given a parent, its lot, limits and a volume profile
    # when both the kernel and its twin slice it as VWAP
    got = kernels.vwap(
        request["quantity"], request["weights"], request["lot"], request["min_child"], request["max_child"]
    )
    want = kernels_ref.vwap(
        request["quantity"], request["weights"], request["lot"], request["min_child"], request["max_child"]
    )
    # then they agree child for child and the schedule is valid
    np.testing.assert_array_equal(got, want)
    assert_valid_schedule(got, request["quantity"], request["lot"], request["min_child"], request["max_child"])
    if request["max_child"] == 0:
        # Without a cap the only way to end below the minimum is a parent that is itself below it.
        below = (got > 0) & (got < request["min_child"])
        assert not below.any() or request["quantity"] < request["min_child"]


@PROPERTY
@given(request=slicing_requests())
def test_twap_matches_twin_and_is_even(request: dict) -> None:
    periods = len(request["weights"])
    got = kernels.twap(request["quantity"], periods, request["lot"], request["min_child"], request["max_child"])
    want = kernels_ref.twap(request["quantity"], periods, request["lot"], request["min_child"], request["max_child"])
    np.testing.assert_array_equal(got, want)
    assert_valid_schedule(got, request["quantity"], request["lot"], request["min_child"], request["max_child"])
    if request["min_child"] == 0 and request["max_child"] == 0:
        # Unconstrained TWAP children differ by at most one lot.
        assert int(got.max() - got.min()) <= request["lot"]


@PROPERTY
@given(request=slicing_requests(), elapsed_share=st.floats(0.0, 1.0), fill_seed=st.integers(0, 2**32 - 1))
def test_reslice_carries_the_unfilled_residual(request: dict, elapsed_share: float, fill_seed: int) -> None:
    # given a plan part-way through, with fills of whole lots that fell short of (or matched) the plan
    weights, lot = request["weights"], request["lot"]
    periods = len(weights)
    elapsed = min(int(elapsed_share * periods), periods - 1)
    plan = kernels.vwap(request["quantity"], weights, lot, request["min_child"], request["max_child"])
    rng = np.random.default_rng(fill_seed)
    filled = (rng.integers(0, plan[:elapsed] // lot + 1) * lot).astype(np.int64)
    remaining = request["quantity"] - int(filled.sum())
    max_child = request["max_child"]
    if max_child and (max_child // lot) * (periods - elapsed) < remaining // lot:
        max_child = 0
    # when the residual is re-sliced over the periods left
    got = kernels.reslice(request["quantity"], filled, weights, lot, request["min_child"], max_child)
    want = kernels_ref.reslice(request["quantity"], filled, weights, lot, request["min_child"], max_child)
    # then the new schedule covers exactly what is left, over exactly the periods left
    np.testing.assert_array_equal(got, want)
    assert len(got) == periods - elapsed
    assert_valid_schedule(got, remaining, lot, request["min_child"], max_child)


def test_reslice_moves_a_shortfall_into_later_periods() -> None:
    # given a 1,000-share TWAP over 5 periods whose first two children filled 100 and 50 instead of 200 each
    filled = np.array([100, 50], dtype=np.int64)
    # when re-sliced
    got = kernels.reslice(1_000, filled, np.ones(5), 10)
    # then the 850 left are spread over the last three periods
    assert got.tolist() == [280, 290, 280]


@PROPERTY
@given(
    request=slicing_requests(),
    parents=st.lists(st.integers(0, 2_000), min_size=1, max_size=20),
)
def test_slice_batch_matches_twin_rows_and_vectorized_numpy(request: dict, parents: list[int]) -> None:
    lot, weights = request["lot"], request["weights"]
    quantities = np.array(parents, dtype=np.int64) * lot
    max_child = request["max_child"]
    if max_child and (max_child // lot) * len(weights) < max(parents):
        max_child = 0
    got = kernels.slice_batch(quantities, weights, lot, request["min_child"], max_child)
    np.testing.assert_array_equal(
        got, kernels_ref.slice_batch(quantities, weights, lot, request["min_child"], max_child)
    )
    for row, quantity in zip(got, quantities, strict=True):
        np.testing.assert_array_equal(row, kernels.vwap(int(quantity), weights, lot, request["min_child"], max_child))
    unconstrained = kernels.slice_batch(quantities, weights, lot)
    np.testing.assert_array_equal(unconstrained, kernels_ref.slice_batch_vectorized(quantities, weights, lot))


@st.composite
def pov_requests(draw: st.DrawFn) -> dict:
    lot = draw(st.sampled_from([1, 10, 100]))
    periods = draw(st.integers(1, 60))
    volumes = draw(st.lists(st.floats(0.0, 50_000.0, allow_nan=False), min_size=periods, max_size=periods))
    participation = draw(st.floats(0.01, 0.5))
    cap = draw(st.floats(participation, 1.0))
    min_lots = draw(st.integers(0, 20))
    max_lots = draw(st.one_of(st.just(0), st.integers(max(min_lots, 1), 200)))
    return {
        "quantity": draw(st.integers(0, 5_000)) * lot,
        "forecast_volume": np.array(volumes),
        "participation": participation,
        "cap": cap,
        "lot": lot,
        "min_child": min_lots * lot,
        "max_child": max_lots * lot,
    }


@PROPERTY
@given(request=pov_requests())
def test_pov_matches_twin_and_never_breaches_the_cap(request: dict) -> None:
    # given a parent, a forecast of market volume, a participation target and a hard cap
    # when scheduled by the kernel and its twin
    schedule, residual = kernels.pov(**request)
    want_schedule, want_residual = kernels_ref.pov(**request)
    # then they agree, and what is not scheduled is reported as the residual, never forced past the cap
    np.testing.assert_array_equal(schedule, want_schedule)
    assert residual == want_residual
    assert residual >= 0
    assert int(schedule.sum()) + residual == request["quantity"]
    assert np.all(schedule >= 0)
    assert np.all(schedule % request["lot"] == 0)
    assert np.all(schedule <= request["cap"] * request["forecast_volume"] * (1.0 + 1e-12))
    if request["max_child"]:
        assert np.all(schedule <= request["max_child"])
    remaining_before = request["quantity"] - np.concatenate(([0], np.cumsum(schedule)[:-1]))
    assert np.all(schedule <= remaining_before)
    assert_min_rule(schedule, remaining_before, request["min_child"])
    if request["min_child"] == 0:
        # Catch-up after a capped period never runs ahead of the target participation.
        allowed = request["participation"] * np.cumsum(request["forecast_volume"])
        assert np.all(np.cumsum(schedule) <= allowed * (1.0 + 1e-12))


def test_pov_reports_the_residual_when_volume_is_short() -> None:
    # given 10,000 shares at 10 % of 10 periods of 5,000 shares, capped at 20 %
    schedule, residual = kernels.pov(10_000, np.full(10, 5_000.0), 0.10, 0.20, 100)
    # then it trades 500 a period and carries the 5,000 it could not place
    assert schedule.tolist() == [500] * 10
    assert residual == 5_000


def test_pov_skips_an_empty_period_without_trading_into_it() -> None:
    # given a period with no forecast volume in the middle of the horizon
    volumes = np.array([10_000.0, 0.0, 10_000.0, 10_000.0])
    # when trading 10 % with a 15 % cap
    schedule, residual = kernels.pov(3_000, volumes, 0.10, 0.15, 100)
    # then nothing trades in the empty period (0 % of nothing) and the parent still finishes
    assert schedule.tolist() == [1_000, 0, 1_000, 1_000]
    assert residual == 0


def test_pov_carries_children_below_the_minimum_into_a_later_period() -> None:
    # given 10 % of 3,000-share periods (300 a period) against a 500-share minimum child
    volumes = np.array([3_000.0, 3_000.0, 3_000.0, 10_000.0])
    # when scheduled with a 20 % cap
    schedule, residual = kernels.pov(1_900, volumes, 0.10, 0.20, 100, 500)
    # then the small children wait and are caught up, each within 20 % of its period's volume
    assert schedule.tolist() == [0, 600, 0, 1_300]
    assert residual == 0
    # and with a 12 % cap the early periods cannot reach the minimum at all: the shortfall is reported, not forced
    capped, capped_residual = kernels.pov(1_900, volumes, 0.10, 0.12, 100, 500)
    assert capped.tolist() == [0, 0, 0, 1_200]
    assert capped_residual == 700


@st.composite
def ac_params(draw: st.DrawFn) -> dict:
    periods = draw(st.integers(1, 200))
    horizon = draw(st.floats(0.1, 30.0))
    tau = horizon / periods
    eta = draw(st.floats(1e-7, 1e-4))
    return {
        "total": draw(st.floats(1.0, 1e7)),
        "horizon": horizon,
        "periods": periods,
        "sigma": draw(st.floats(0.0, 5.0)),
        "eta": eta,
        # gamma < 2 eta / tau keeps eta_tilde positive, as the model needs.
        "gamma": draw(st.floats(0.0, 0.9)) * 2.0 * eta / tau,
        "risk_aversion": draw(st.one_of(st.just(0.0), st.floats(1e-9, 1e-3))),
        "epsilon": draw(st.floats(0.0, 0.5)),
    }


def kappa_of(params: dict) -> float:
    tau = params["horizon"] / params["periods"]
    eta_tilde = params["eta"] - 0.5 * params["gamma"] * tau
    return math.acosh(1.0 + params["risk_aversion"] * params["sigma"] ** 2 * tau**2 / (2.0 * eta_tilde)) / tau


def optimal_holdings_by_linear_solve(params: dict) -> np.ndarray:
    """Minimize E + lambda V directly: its gradient in x_1..x_{N-1} is a tridiagonal linear system.

    d/dx_j of (eta_tilde / tau) sum (x_{k-1} - x_k)^2 + lambda sigma^2 tau sum x_k^2 vanishes when
    (2 + lambda sigma^2 tau^2 / eta_tilde) x_j - x_{j-1} - x_{j+1} = 0, with x_0 = X and x_N = 0; no sinh involved.
    """
    n, x0 = params["periods"], params["total"]
    tau = params["horizon"] / n
    eta_tilde = params["eta"] - 0.5 * params["gamma"] * tau
    diagonal = 2.0 + params["risk_aversion"] * params["sigma"] ** 2 * tau**2 / eta_tilde
    inner = n - 1
    holdings = np.zeros(n + 1)
    holdings[0] = x0
    if inner:
        system = np.diag(np.full(inner, diagonal)) - np.eye(inner, k=1) - np.eye(inner, k=-1)
        rhs = np.zeros(inner)
        rhs[0] = x0
        holdings[1:n] = np.linalg.solve(system, rhs)
    return holdings


def cost_and_variance(holdings: np.ndarray, params: dict) -> tuple[float, float]:
    """The paper's E and V for any trajectory, written out with plain Python floats."""
    tau = params["horizon"] / params["periods"]
    eta_tilde = params["eta"] - 0.5 * params["gamma"] * tau
    trades = [float(a - b) for a, b in zip(holdings[:-1], holdings[1:], strict=True)]
    expected = (
        0.5 * params["gamma"] * params["total"] ** 2
        + params["epsilon"] * sum(abs(n) for n in trades)
        + eta_tilde / tau * sum(n * n for n in trades)
    )
    variance = params["sigma"] ** 2 * tau * sum(float(x) ** 2 for x in holdings[1:])
    return expected, variance


@PROPERTY
@given(params=ac_params())
def test_almgren_chriss_matches_twin_and_the_direct_optimum(params: dict) -> None:
    # The twin uses sinh as the paper writes it; keep kappa T where sinh stays finite.
    assume(kappa_of(params) * params["horizon"] < 300.0)
    holdings, expected, variance = kernels.almgren_chriss(**params)
    twin_holdings, twin_expected, twin_variance = kernels_ref.almgren_chriss(**params)
    scale = params["total"]
    np.testing.assert_allclose(holdings, twin_holdings, rtol=1e-7, atol=1e-9 * scale)
    assert expected == pytest.approx(twin_expected, rel=1e-7)
    assert variance == pytest.approx(twin_variance, rel=1e-7, abs=1e-12 * params["sigma"] ** 2 * scale**2)
    # The trajectory is the minimizer of E + lambda V, found here without the closed form.
    np.testing.assert_allclose(holdings, optimal_holdings_by_linear_solve(params), rtol=1e-6, atol=1e-8 * scale)
    assert holdings[0] == params["total"]
    assert holdings[-1] == 0.0
    assert np.all(np.diff(holdings) <= 0.0)
    want_expected, want_variance = cost_and_variance(holdings, params)
    assert expected == pytest.approx(want_expected, rel=1e-9)
    assert variance == pytest.approx(want_variance, rel=1e-9, abs=1e-12)


def test_almgren_chriss_reproduces_the_paper_example() -> None:
    # given the paper's example with lambda = 1e-6
    params = {**PAPER, "risk_aversion": 1e-6}
    # when the optimal trajectory is computed
    holdings, expected, variance = kernels.almgren_chriss(**params)
    # then kappa, recovered from the trajectory itself (x_{j-1} + x_{j+1} = 2 cosh(kappa tau) x_j), is the
    # paper's ~0.6/day, and not the continuous shortcut sqrt(lambda sigma^2 / eta) = 0.60083 nor one with eta
    # in place of eta_tilde.
    kappa = math.acosh((holdings[0] + holdings[2]) / (2.0 * holdings[1]))
    assert kappa == pytest.approx(0.6, abs=0.01)
    assert kappa == pytest.approx(math.acosh(1.0 + 1e-6 * 0.95**2 / (2.0 * 2.375e-6)), rel=1e-12)
    assert kappa != pytest.approx(math.acosh(1.0 + 1e-6 * 0.95**2 / (2.0 * 2.5e-6)), rel=1e-3)
    # and the trajectory, E and V are those of the direct minimization, computed independently here
    direct = optimal_holdings_by_linear_solve(params)
    np.testing.assert_allclose(holdings, direct, rtol=1e-10)
    want_expected, want_variance = cost_and_variance(direct, params)
    assert expected == pytest.approx(want_expected, rel=1e-10)
    assert variance == pytest.approx(want_variance, rel=1e-10)
    # Values pinned so a regression shows: E ~ $0.911 million, sqrt(V) ~ $0.603 million.
    assert expected == pytest.approx(911_226.99, abs=0.05)
    assert math.sqrt(variance) == pytest.approx(603_430.67, abs=0.05)
    # and it lies on the frontier's risk-averse side of the linear strategy: dearer but less risky
    _, linear_expected, linear_variance = kernels.almgren_chriss(**{**params, "risk_aversion": 0.0})
    assert expected > linear_expected
    assert variance < linear_variance
    assert expected + 1e-6 * variance < linear_expected + 1e-6 * linear_variance


def test_almgren_chriss_without_risk_aversion_is_the_linear_strategy() -> None:
    # given the paper's example with lambda = 0
    params = {**PAPER, "risk_aversion": 0.0}
    x0, n = PAPER["total"], PAPER["periods"]
    tau = PAPER["horizon"] / n
    eta_tilde = PAPER["eta"] - 0.5 * PAPER["gamma"] * tau
    # when computed
    holdings, expected, variance = kernels.almgren_chriss(**params)
    # then it sells X / N a period, with the closed forms of the linear strategy:
    # E = 1/2 gamma X^2 + epsilon X + eta_tilde X^2 / (tau N) and V = sigma^2 tau X^2 sum_{k=1..N} (1 - k/N)^2.
    np.testing.assert_allclose(holdings, x0 * (1.0 - np.arange(n + 1) / n), rtol=0, atol=1e-9)
    assert expected == pytest.approx(
        0.5 * PAPER["gamma"] * x0**2 + PAPER["epsilon"] * x0 + eta_tilde * x0**2 / (tau * n)
    )
    assert variance == pytest.approx(
        PAPER["sigma"] ** 2 * tau * x0**2 * sum((1.0 - k / n) ** 2 for k in range(1, n + 1))
    )
    # $662,500 and 1.083e12 $^2: the published λ→0 end of this example's frontier (DROP's Almgren-Chriss
    # coverage run lists mean 0.6625 $M, variance 1.081e12 at its smallest lambda).
    assert expected == pytest.approx(662_500.0)
    assert variance == pytest.approx(1.083e12)


def test_almgren_chriss_stays_finite_for_extreme_risk_aversion() -> None:
    # sinh(kappa T) overflows float64 beyond kappa T ~ 710; the kernel's exp/expm1 form must not.
    holdings, expected, variance = kernels.almgren_chriss(**{**PAPER, "risk_aversion": 1e6})
    assert np.all(np.isfinite(holdings))
    assert holdings[1] < 1e-6 * PAPER["total"]
    assert math.isfinite(expected)
    assert math.isfinite(variance)
    # Selling everything at once costs 1/2 gamma X^2 + epsilon X + eta_tilde X^2 / tau.
    assert expected == pytest.approx(125_000.0 + 62_500.0 + 2.375e-6 * 1e12, rel=1e-9)


@PROPERTY
@given(params=ac_params(), lot=st.sampled_from([1, 100]), total_lots=st.integers(0, 10_000))
def test_almgren_chriss_schedule_matches_twin_and_sums_exactly(params: dict, lot: int, total_lots: int) -> None:
    assume(kappa_of(params) * params["horizon"] < 300.0)
    args = (params["horizon"], params["periods"], params["sigma"], params["eta"], params["gamma"])
    quantity = total_lots * lot
    got = kernels.almgren_chriss_schedule(quantity, *args, params["risk_aversion"], lot)
    want = kernels_ref.almgren_chriss_schedule(quantity, *args, params["risk_aversion"], lot)
    # A target sitting on a half lot can round either way between the two AC formulas; allow a one-lot shift.
    assert np.abs(got - want).max(initial=0) <= lot
    assert_valid_schedule(got, quantity, lot, 0, 0)


def test_almgren_chriss_schedule_follows_the_trade_list() -> None:
    got = kernels.almgren_chriss_schedule(1_000_000, 5.0, 5, 0.95, 2.5e-6, 2.5e-7, 1e-6, 100)
    assert got.tolist() == [458_000, 252_100, 142_000, 85_800, 62_100]


@PROPERTY
@given(
    prices=st.lists(st.floats(0.01, 10_000.0, allow_nan=False), min_size=1, max_size=50),
    tick=st.sampled_from([0.0001, 0.01, 0.05, 0.25, 1.0]),
    side=st.sampled_from([1, -1]),
)
def test_round_to_tick_matches_twin_and_is_passive(prices: list[float], tick: float, side: int) -> None:
    array = np.array(prices)
    got = kernels.round_to_tick(array, tick, side)
    np.testing.assert_array_equal(got, kernels_ref.round_to_tick(array, tick, side))
    # a buy never pays more than its limit, a sell never takes less, and neither moves by a whole tick
    slack = 1e-9 * np.maximum(array, tick)
    if side == 1:
        assert np.all(got <= array + slack)
        assert np.all(got > array - tick - slack)
    else:
        assert np.all(got >= array - slack)
        assert np.all(got < array + tick + slack)
    ticks = got / tick
    np.testing.assert_allclose(ticks, np.round(ticks), rtol=0, atol=1e-6)


@PROPERTY
@given(
    cents=st.lists(st.integers(1, 1_000_000), min_size=1, max_size=50),
    tick_cents=st.sampled_from([1, 5, 25, 100]),
    side=st.sampled_from([1, -1]),
)
def test_round_to_tick_agrees_with_exact_decimal_rounding(cents: list[int], tick_cents: int, side: int) -> None:
    # given prices in whole cents, so Decimal knows them exactly (100.10 stays 100.10, not 100.09999...)
    tick = Decimal(tick_cents) / 100
    got = kernels.round_to_tick(np.array([c / 100 for c in cents]), float(tick), side)
    rounding = ROUND_FLOOR if side == 1 else ROUND_CEILING
    want = [float((Decimal(c) / 100 / tick).to_integral_value(rounding) * tick) for c in cents]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_round_to_tick_keeps_prices_on_the_grid() -> None:
    on_grid = np.array([100.10, 0.07, 99.95])
    np.testing.assert_allclose(kernels.round_to_tick(on_grid, 0.01, 1), on_grid, rtol=1e-15)
    np.testing.assert_allclose(kernels.round_to_tick(on_grid, 0.01, -1), on_grid, rtol=1e-15)
    assert kernels.round_to_tick(np.array([100.104]), 0.01, 1)[0] == pytest.approx(100.10)
    assert kernels.round_to_tick(np.array([100.104]), 0.01, -1)[0] == pytest.approx(100.11)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kernels.twap(1_005, 5, 10), "whole number of lots"),
        (lambda: kernels.twap(-10, 5, 10), "negative"),
        (lambda: kernels.twap(1_000, 0, 10), "periods"),
        (lambda: kernels.twap(1_000, 5, 0), "lot"),
        (lambda: kernels.twap(1_000, 5, 10, 0, 100), "cannot hold"),
        (lambda: kernels.twap(1_000, 5, 10, 300, 200), "min_child exceeds"),
        (lambda: kernels.vwap(1_000, np.zeros(5), 10), "positive sum"),
        (lambda: kernels.vwap(1_000, np.array([1.0, -1.0]), 10), "non-negative"),
        (lambda: kernels.pov(1_000, np.ones(5), 0.3, 0.2, 10), "participation"),
        (lambda: kernels.reslice(1_000, np.array([500, 600]), np.ones(5), 10), "exceed"),
        (lambda: kernels.reslice(1_000, np.array([100, 100]), np.ones(2), 10), "no periods"),
        (lambda: kernels.almgren_chriss(1e6, 5.0, 5, 0.95, 1e-7, 2.5e-7, 1e-6), "eta"),
        (lambda: kernels.almgren_chriss(1e6, 0.0, 5, 0.95, 2.5e-6, 2.5e-7, 1e-6), "horizon"),
        (lambda: kernels.round_to_tick(np.ones(2), 0.0, 1), "tick"),
        (lambda: kernels.round_to_tick(np.ones(2), 0.01, 0), "side"),
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_kernels_are_compiled_by_numba() -> None:
    # given one call to each kernel
    weights = np.ones(4)
    kernels.twap(100, 4, 1)
    kernels.vwap(100, weights, 1)
    kernels.slice_by_weights(100, weights, 1)
    kernels.pov(100, np.full(4, 100.0), 0.5, 0.5, 1)
    kernels.almgren_chriss(**{**PAPER, "risk_aversion": 1e-6})
    kernels.almgren_chriss_schedule(100, 1.0, 4, 0.1, 1e-3, 0.0, 1e-6, 1)
    kernels.reslice(100, np.zeros(1, dtype=np.int64), weights, 1)
    kernels.slice_batch(np.array([100, 200]), weights, 1)
    kernels.round_to_tick(np.ones(2), 0.01, 1)
    # then each is a numba dispatcher holding a compiled signature, not the Python function
    for kernel in (
        kernels.twap,
        kernels.vwap,
        kernels.slice_by_weights,
        kernels.pov,
        kernels.almgren_chriss,
        kernels.almgren_chriss_schedule,
        kernels.reslice,
        kernels.slice_batch,
        kernels.round_to_tick,
    ):
        assert kernel.signatures, kernel
        assert kernel.nopython_signatures, kernel
