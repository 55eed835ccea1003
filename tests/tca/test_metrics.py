"""The pure TCA metrics: shortfall parts that add up to the cent, literature examples, benchmarks, markouts."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tca import benchmarks, markouts, metrics

T0 = pd.Timestamp("2026-01-05 10:00:00", tz="UTC")


def _seconds(value: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=value)


def _one_order(
    *, side: int, target: float, decision: float, arrival: float, end: float, order_id: int = 1
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [order_id],
            "side": [side],
            "target_quantity": [target],
            "decision_price": [decision],
            "arrival_mid": [arrival],
            "end_mid": [end],
        }
    )


def _parts(row: dict[str, object]) -> dict[str, Decimal]:
    return row["parts"]  # type: ignore[return-value]


# --- the parts add up to the total, to the cent ------------------------------------------------------------------

_price = st.integers(min_value=100, max_value=10_000_000).map(lambda n: n / 10_000)  # 0.01 .. 1000.0000
_quantity = st.integers(min_value=1, max_value=50_000_000).map(lambda n: n / 10_000)  # 0.0001 .. 5000
_fee = st.integers(min_value=0, max_value=100_000).map(lambda n: n / 1000)
_half_spread = st.integers(min_value=0, max_value=5_000).map(lambda n: n / 10_000)


@st.composite
def _fills_and_orders(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    orders, fills = [], []
    for order_id in range(draw(st.integers(min_value=1, max_value=4))):
        side = draw(st.sampled_from([1, -1]))
        quantities = draw(st.lists(_quantity, max_size=5))
        extra = draw(st.sampled_from([0.0, 0.0, draw(_quantity)]))
        orders.append(
            {
                "order_id": order_id,
                "side": side,
                "target_quantity": sum(quantities) + extra,
                "decision_price": draw(_price),
                "arrival_mid": draw(_price),
                "end_mid": draw(_price),
            }
        )
        for quantity in quantities:
            fills.append(
                {
                    "order_id": order_id,
                    "side": side,
                    "quantity": quantity,
                    "price": draw(_price),
                    "fee": draw(_fee),
                    "mid_at_fill": draw(_price),
                    "half_spread_at_fill": draw(_half_spread),
                    "mid_after": draw(_price),
                    "dealer": draw(st.sampled_from(["ALPHA", "BRAVO"])),
                }
            )
    fill_columns = ["order_id", "side", "quantity", "price", "fee", "mid_at_fill", "half_spread_at_fill", "mid_after"]
    return pd.DataFrame(fills, columns=[*fill_columns, "dealer"]), pd.DataFrame(orders)


@settings(max_examples=80, deadline=None)
@given(data=_fills_and_orders(), benchmark=st.sampled_from(["decision", "arrival"]))
def test_parts_add_up_to_the_total_to_the_cent(data: tuple[pd.DataFrame, pd.DataFrame], benchmark: str) -> None:
    # given random fills and orders
    fills, orders = data

    # when the ledger is built and added up per row, per order and per dealer
    ledger = metrics.cost_ledger(fills, orders, benchmark=benchmark)
    cent_parts = ledger.loc[:, [f"{name}_cents" for name in metrics.PARTS]]
    per_order = metrics.order_shortfall(fills, orders, benchmark=benchmark)
    rows = metrics.aggregate(ledger, by="dealer")

    # then every sum of parts is its total exactly, in whole cents
    assert (cent_parts.sum(axis=1) == ledger["total_cents"]).all()
    order_parts = per_order.loc[:, [f"{name}_cents" for name in metrics.PARTS]].sum(axis=1)
    assert (order_parts == per_order["total_cents"]).all()
    for row in rows:
        assert sum(_parts(row).values()) == row["total_cost"]
        assert row["total_cost"] == row["total_cost"].quantize(Decimal("0.01"))
    assert sum(row["total_cost"] for row in rows) == Decimal(int(ledger["total_cents"].sum())).scaleb(-2)
    # and no part is a fudge: each is within a cent of its own definition, the total within half a cent of Perold's
    exact = ledger.loc[:, list(metrics.PARTS)].to_numpy(dtype=float) * 100
    assert np.all(np.abs(cent_parts.to_numpy() - exact) <= 1.0 + 1e-6)
    bench = "decision_price" if benchmark == "decision" else "arrival_mid"
    paper = orders.set_index("order_id")
    joined = fills.join(paper[[bench]], on="order_id")
    perold = (joined["side"] * joined["quantity"] * (joined["price"] - joined[bench]) + joined["fee"]).groupby(
        joined["order_id"]
    ).sum().reindex(paper.index, fill_value=0.0) + paper["side"] * (
        paper["target_quantity"] - fills.groupby("order_id")["quantity"].sum().reindex(paper.index, fill_value=0.0)
    ) * (paper["end_mid"] - paper[bench])
    rows_per_order = ledger.groupby("order_id").size().reindex(paper.index, fill_value=0)
    gap = np.abs(per_order["total_cents"].reindex(paper.index, fill_value=0) - perold * 100)
    assert (gap <= 0.5 * rows_per_order + 1e-6).all()


def test_cumulative_rounding_keeps_sub_cent_parts_from_vanishing() -> None:
    # given a buy of 1 contract whose delay, timing and permanent impact are 0.4 cent each
    fills = pd.DataFrame(
        {"order_id": [1], "side": [1], "quantity": [1.0], "price": [100.012], "mid_at_fill": [100.008]}
    ).assign(mid_after=100.012)
    orders = _one_order(side=1, target=1.0, decision=100.0, arrival=100.004, end=100.0)

    # when it is rounded to cents
    row = metrics.cost_ledger(fills, orders).iloc[0]

    # then rounding each part alone would give 0 + 0 + 0 for a 1-cent total; along the path it is 0 + 1 + 0
    assert row["total_cents"] == 1
    assert [row["delay_cents"], row["timing_cents"], row["impact_permanent_cents"]] == [0, 1, 0]


# --- worked examples --------------------------------------------------------------------------------------------


def test_cfa_curriculum_example_reproduced_exactly() -> None:
    """The CFA Institute Level III curriculum example (Trade Strategy and Execution), as quoted on AnalystForum,
    https://analystforum.com/t/trading-decision-price/137161 (and /t/implementation-shortfall/11066):

    Day 1: CMS closes at $75; the manager decides to buy 8,000 shares (decision price $75).
    Day 2: a limit order at $74 does not fill; CMS closes at $75.75.
    Day 3: a new limit order at $77; 4,000 shares fill at $77 plus $1,500 commission; CMS closes at $79 and the
    rest is cancelled. The source's total: IS = (79 - 75) x 8,000 - ((79 - 77) x 4,000 - 1,500) = $25,500.

    Decomposition (the curriculum's delay / realized / missed-trade split), arrival = the Day-2 close $75.75:
      delay        4,000 x (75.75 - 75.00) =  3,000
      realized     4,000 x (77.00 - 75.75) =  5,000   (here: temporary impact, no mid history on Day 3)
      opportunity  4,000 x (79.00 - 75.00) = 16,000
      fees                                    1,500
      total        3,000 + 5,000 + 16,000 + 1,500 = 25,500
    """
    # given the order and its one fill; with no intraday mids the fill's mid is the arrival price
    orders = _one_order(side=1, target=8000.0, decision=75.0, arrival=75.75, end=79.0)
    fills = pd.DataFrame(
        {"order_id": [1], "side": [1], "quantity": [4000.0], "price": [77.0], "fee": [1500.0], "mid_at_fill": [75.75]}
    ).assign(dealer="street")

    # when the shortfall is computed against the decision price
    (row,) = metrics.aggregate(metrics.cost_ledger(fills, orders), by="dealer")

    # then it is the source's $25,500, with the source's parts
    assert row["total_cost"] == Decimal("25500.00")
    assert _parts(row) == {
        "delay": Decimal("3000.00"),
        "timing": Decimal("0.00"),
        "impact_permanent": Decimal("0.00"),
        "spread": Decimal("0.00"),
        "impact_temporary": Decimal("5000.00"),
        "fees": Decimal("1500.00"),
        "opportunity": Decimal("16000.00"),
    }
    # and against the arrival price ($75.75) the delay drops out: 5,000 + 1,500 + 4,000 x (79 - 75.75) = 19,500
    (arrival_row,) = metrics.aggregate(metrics.cost_ledger(fills, orders, benchmark="arrival"), by="dealer")
    assert arrival_row["total_cost"] == Decimal("19500.00")
    assert _parts(arrival_row)["delay"] == Decimal("0.00")
    assert _parts(arrival_row)["opportunity"] == Decimal("13000.00")


def test_cfa_percentage_example_reproduced() -> None:
    """The curriculum's percentage example, as worked on https://www.gaodun.com/q/b03v1i: buy 1,000 shares decided
    at the previous close $40.00; the next day closes at $40.04 without a fill; then 700 shares fill at $40.05 with
    a $17 commission and the order is cancelled at $40.08. Of the paper portfolio $40,000:
      explicit     17 / 40,000                      = 0.04%   ($17)
      realized     700 x (40.05 - 40.04) / 40,000   = 0.02%   ($7)
      delay        700 x (40.04 - 40.00) / 40,000   = 0.07%   ($28)
      missed trade 300 x (40.08 - 40.00) / 40,000   = 0.06%   ($24)
      total                                          = 0.19%   ($76)
    """
    orders = _one_order(side=1, target=1000.0, decision=40.00, arrival=40.04, end=40.08)
    fills = pd.DataFrame(
        {"order_id": [1], "side": [1], "quantity": [700.0], "price": [40.05], "fee": [17.0], "mid_at_fill": [40.04]}
    )

    result = metrics.order_shortfall(fills, orders).loc[1]

    assert result["total_cents"] == 7600
    assert (result["fees_cents"], result["impact_temporary_cents"]) == (1700, 700)
    assert (result["delay_cents"], result["opportunity_cents"]) == (2800, 2400)
    assert round(result["total_bps"] / 100, 2) == pytest.approx(0.19)
    assert [
        round(result[f"{name}_cents"] / 40_000, 2) for name in ("fees", "impact_temporary", "delay", "opportunity")
    ] == [
        0.04,
        0.02,
        0.07,
        0.06,
    ]


def test_sell_order_worked_by_hand() -> None:
    """A sell, computed by hand (setup from the AnalystForum question /t/implementation-shortfall-sale-transaction/
    108005): decide to sell 5,000 XYZ at the $40 close; the next day closes at $39.50 unsold; then 4,000 sell at
    $39.70 plus $75 commission and the rest is cancelled at the $39 close.
      paper: 5,000 x 40 = 200,000 received.   real: 4,000 x 39.70 - 75 = 158,725 received, plus 1,000 still held
      worth 1,000 x 39 = 39,000: 197,725.   shortfall = 200,000 - 197,725 = 2,275 (the desk is worse off).
      delay   -1 x 4,000 x (39.50 - 40.00) =  2,000   (the price fell before the desk sold)
      realized -1 x 4,000 x (39.70 - 39.50) =   -800   (sold above the arrival price: a gain)
      missed  -1 x 1,000 x (39.00 - 40.00) =  1,000
      fees                                         75   ->  2,000 - 800 + 1,000 + 75 = 2,275
    """
    orders = _one_order(side=-1, target=5000.0, decision=40.0, arrival=39.5, end=39.0)
    fills = pd.DataFrame(
        {"order_id": [1], "side": [-1], "quantity": [4000.0], "price": [39.70], "fee": [75.0], "mid_at_fill": [39.5]}
    )

    result = metrics.order_shortfall(fills, orders).loc[1]

    assert result["total_cents"] == 227_500
    assert result["delay_cents"] == 200_000
    assert result["impact_temporary_cents"] == -80_000
    assert result["opportunity_cents"] == 100_000


def test_fill_path_decomposition_by_hand() -> None:
    """Buy 10 decided at 99.80, arrival mid 100.00, mid 100.10 just before the fill, 100.20 after it, half spread
    0.05, filled at 100.30 with a 1.00 fee:
      delay     10 x (100.00 - 99.80)              = 2.00
      timing    10 x (100.10 - 100.00)             = 1.00
      permanent 10 x (100.20 - 100.10)             = 1.00
      spread    10 x 0.05                          = 0.50
      temporary 10 x (100.30 - 100.20) - 10 x 0.05 = 0.50
      fees                                           1.00   total 10 x (100.30 - 99.80) + 1.00 = 6.00
    """
    orders = _one_order(side=1, target=10.0, decision=99.80, arrival=100.0, end=100.0)
    fills = pd.DataFrame(
        {
            "order_id": [1],
            "side": [1],
            "quantity": [10.0],
            "price": [100.30],
            "fee": [1.0],
            "mid_at_fill": [100.10],
            "half_spread_at_fill": [0.05],
            "mid_after": [100.20],
        }
    )

    row = metrics.cost_ledger(fills, orders).iloc[0]
    capture = metrics.spread_capture(1, 10.0, 100.30, 100.10, 0.05)

    assert [row[f"{name}_cents"] for name in metrics.PARTS] == [200, 100, 100, 50, 50, 100, 0]
    assert row["total_cents"] == 600
    assert capture == pytest.approx(-1.5)  # paid 0.15 through the touch on 10 contracts


def test_fills_without_a_benchmark_are_counted_not_hidden() -> None:
    orders = _one_order(side=1, target=2.0, decision=float("nan"), arrival=float("nan"), end=float("nan"))
    fills = pd.DataFrame(
        {"order_id": [1], "side": [1], "quantity": [2.0], "price": [10.0], "mid_at_fill": [float("nan")]}
    ).assign(dealer="ALPHA")

    (row,) = metrics.aggregate(metrics.cost_ledger(fills, orders), by="dealer")

    assert row["unpriced_fills"] == 1
    assert row["total_cost"] == Decimal("0.00")


# --- benchmarks ---------------------------------------------------------------------------------------------------


def _vwap_loop(trades: list[tuple[float, float, float]], start: float, end: float) -> float:
    value = volume = 0.0
    for time, price, size in trades:
        if start <= time <= end:
            value += price * size
            volume += size
    return value / volume if volume else float("nan")


def _twap_loop(mids: list[tuple[float, float]], start: float, end: float) -> float:
    ordered = sorted(mids)
    known = [mid for time, mid in ordered if time <= start]
    if not known or end < start:
        return float("nan")
    if end == start:
        return known[-1]
    area, current, cursor = 0.0, known[-1], start
    for time, mid in ordered:
        if start < time <= end:
            area += current * (time - cursor)
            current, cursor = mid, time
    area += current * (end - cursor)
    return area / (end - start)


def test_interval_vwap_and_twap_match_plain_loops() -> None:
    # given seeded prints, mids and intervals, some of them empty or before the first mid
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 600, 200)).round(3)
    prices = 100 + rng.normal(0, 1, 200).cumsum()
    sizes = rng.uniform(0.1, 5, 200)
    starts = rng.uniform(-20, 600, 40).round(3)
    ends = starts + rng.choice([0.0, 0.5, 30.0, 200.0], 40)
    trades = pd.DataFrame({"time": [_seconds(t) for t in times], "price": prices, "volume": sizes})
    mids = pd.DataFrame({"time": [_seconds(t) for t in times], "mid": prices})

    # when the vectorized benchmarks run
    vwap = benchmarks.interval_vwap(trades, [_seconds(t) for t in starts], [_seconds(t) for t in ends])
    twap = benchmarks.interval_twap(mids, [_seconds(t) for t in starts], [_seconds(t) for t in ends])

    # then they agree with the loops, NaN where there is nothing to average
    rows = list(zip(times, prices, sizes, strict=True))
    expected_vwap = [_vwap_loop(rows, s, e) for s, e in zip(starts, ends, strict=True)]
    expected_twap = [_twap_loop(list(zip(times, prices, strict=True)), s, e) for s, e in zip(starts, ends, strict=True)]
    np.testing.assert_allclose(vwap, expected_vwap, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(twap, expected_twap, rtol=1e-9, equal_nan=True)
    assert np.isnan(twap).any()
    assert np.isnan(vwap).any()


def test_benchmarks_and_slippage_per_order() -> None:
    # given a buy of 3 worked between t=0 and t=10 and the market around it
    orders = _one_order(side=1, target=3.0, decision=100.0, arrival=100.0, end=101.0).assign(
        arrival_time=_seconds(0), end_time=_seconds(10)
    )
    trades = pd.DataFrame({"time": [_seconds(1), _seconds(9), _seconds(11)], "price": [100.0, 102.0, 500.0]})
    trades["volume"] = [1.0, 1.0, 9.0]
    mids = pd.DataFrame({"time": [_seconds(0), _seconds(4)], "mid": [100.0, 102.0]})
    fills = pd.DataFrame({"order_id": [1, 1], "side": [1, 1], "quantity": [1.0, 2.0], "price": [100.0, 101.0]})

    bench = benchmarks.order_benchmarks(orders, trades=trades, mids=mids).loc[1]
    slippage = benchmarks.benchmark_slippage(fills, pd.Series({1: bench["vwap"]}))

    # VWAP (100 + 102) / 2 = 101; TWAP (4 x 100 + 6 x 102) / 10 = 101.2; average fill (100 + 202) / 3
    assert (bench["arrival"], bench["vwap"], bench["close"]) == (100.0, 101.0, 101.0)
    assert bench["twap"] == pytest.approx(101.2)
    assert slippage.loc[1] == pytest.approx(3 * ((302 / 3) - 101.0))


# --- markouts -------------------------------------------------------------------------------------------------------


def test_markouts_against_hand_computed_values() -> None:
    # given mids 100.0 from t=0, 100.5 from t=5, 99.0 from t=30, 101.0 from t=400; a buy at t=2 and a sell at t=200
    mids = pd.DataFrame(
        {"time": [_seconds(0), _seconds(5), _seconds(30), _seconds(400)], "mid": [100.0, 100.5, 99.0, 101.0]}
    )
    fills = pd.DataFrame(
        {
            "time": [_seconds(2), _seconds(200)],
            "side": [1, -1],
            "quantity": [2.0, 1.0],
            "price": [100.1, 99.0],
            "dealer": ["ALPHA", "BRAVO"],
        }
    )

    # when marked out at 1 s, 10 s, 60 s and 300 s
    rows = markouts.markouts(fills, mids)
    curves = markouts.markout_curves(rows, by="dealer")

    # then: buy from mid 100.0 -> 100.0 (t=3), 100.5 (t=12), 99.0 (t=62), 99.0 (t=302): 0, -0.5, +1.0, +1.0
    buy = rows.loc[rows["dealer"] == "ALPHA"].set_index("horizon_s")
    assert buy["markout"].tolist() == [0.0, -0.5, 1.0, 1.0]
    assert buy.loc[60, "markout_bps"] == pytest.approx(100.0)
    assert buy.loc[60, "markout_cost"] == pytest.approx(2.0)
    # the sell from mid 99.0 stays at 99.0 until t=260; at t=500 the series has ended: no data, kept as NaN
    sell = rows.loc[rows["dealer"] == "BRAVO"].set_index("horizon_s")
    assert sell.loc[[1, 10, 60], "markout"].abs().tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(sell.loc[300, "markout"])
    bravo_300 = curves.loc[(curves["dealer"] == "BRAVO") & (curves["horizon_s"] == 300)].iloc[0]
    assert bravo_300["fills_without_data"] == 1
    # and against the fill price the buy also carries the 0.1 paid above the mid
    priced = markouts.markouts(fills.iloc[:1], mids, horizons_s=[60], reference="price")
    assert priced["markout"].iloc[0] == pytest.approx(1.1)


def test_markouts_by_instrument_use_their_own_mids() -> None:
    mids = pd.DataFrame(
        {
            "time": [_seconds(0), _seconds(0), _seconds(5), _seconds(5)],
            "mid": [100.0, 10.0, 101.0, 9.0],
            "instrument": ["BTC", "ETH", "BTC", "ETH"],
        }
    )
    fills = pd.DataFrame(
        {"time": [_seconds(1)] * 2, "side": [1, 1], "quantity": [1.0, 1.0], "price": [100.0, 10.0]}
    ).assign(instrument=["BTC", "ETH"])

    rows = markouts.markouts(fills, mids, horizons_s=[1, 4])

    assert rows.loc[rows["horizon_s"] == 4, "markout"].tolist() == [-1.0, 1.0]


# --- empty input, packages ------------------------------------------------------------------------------------------


def test_empty_input_gives_empty_results() -> None:
    empty = pd.DataFrame()

    assert metrics.cost_ledger(empty, empty).empty
    assert metrics.aggregate(metrics.cost_ledger(empty, empty), by="dealer") == []
    assert metrics.order_shortfall(empty, empty).empty
    assert markouts.markouts(pd.DataFrame(columns=["time", "side", "quantity", "price"]), empty).empty
    assert markouts.markout_curves(pd.DataFrame(), by="dealer").empty
    assert metrics.package_shortfall(empty, pd.DataFrame(columns=["package_id", "quantity", "decision_price"])).empty
    assert benchmarks.benchmark_slippage(empty, pd.Series(dtype=float)).empty


def test_order_with_no_fill_costs_only_its_opportunity() -> None:
    orders = _one_order(side=-1, target=3.0, decision=50.0, arrival=50.0, end=48.0)
    fills = pd.DataFrame(columns=["order_id", "side", "quantity", "price", "mid_at_fill"])

    result = metrics.order_shortfall(fills, orders).loc[1]

    assert result["total_cents"] == result["opportunity_cents"] == 600


def test_a_package_is_judged_as_a_package() -> None:
    """Buy 2 straddles decided at a net 10.00 per package (call + put): the call fills at 5.30 (0.30 over its own
    screen price of 5.00) and the put at 4.75 (0.25 under 5.00). Leg by leg one looks bad and one good; as a
    package the desk paid 2 x (5.30 + 4.75) = 20.10 against 2 x 10.00 = 20.00: a cost of 0.10 plus 0.04 fees."""
    fills = pd.DataFrame(
        {
            "package_id": ["P1", "P1"],
            "side": [1, 1],
            "quantity": [2.0, 2.0],
            "price": [5.30, 4.75],
            "fee": [0.02, 0.02],
        }
    )
    packages = pd.DataFrame({"package_id": ["P1"], "quantity": [2.0], "decision_price": [10.0]})

    result = metrics.package_shortfall(fills, packages).loc["P1"]

    assert result["total_cents"] == 14
    assert result["net_paid"] == pytest.approx(20.10)
    assert result["paper"] == pytest.approx(20.0)


def test_a_credit_package_with_a_sold_leg() -> None:
    # a collar: buy a put at 3.00, sell a call at 4.50, decided at a net credit of -1.40 per package
    fills = pd.DataFrame({"package_id": [7, 7], "side": [1, -1], "quantity": [1.0, 1.0], "price": [3.00, 4.50]})
    packages = pd.DataFrame({"package_id": [7], "quantity": [1.0], "decision_price": [-1.40]})

    result = metrics.package_shortfall(fills, packages).loc[7]

    # net paid 3.00 - 4.50 = -1.50 (a credit of 1.50), better than the paper credit of 1.40: a 0.10 gain
    assert result["total_cents"] == -10
