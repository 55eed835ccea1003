"""The wait-or-split decision: a pure function of the quote book, the pending dealers, the market and the order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import lognorm

from rfq.decision import (
    BookQuote,
    MarketState,
    OrderTerms,
    PendingDealer,
    algo_cost_bps,
    answer_reach,
    takeable,
    variance_bps2_per_s,
    wait_bound_s,
    wait_candidate_s,
    wait_or_split,
)

CALM = MarketState(mid=100_000.0, volatility=0.4, half_spread_bps=2.0, adv=20_000.0)
WILD = MarketState(mid=100_000.0, volatility=3.0, half_spread_bps=2.0, adv=20_000.0)


def quote(dealer: str, bps: float, *, size: float = 10.0, expires_in_s: float = 20.0, p_fill: float = 1.0) -> BookQuote:
    """A quote ``bps`` above the arrival mid (a cost to a buyer)."""
    return BookQuote(
        dealer=dealer, price=100_000.0 * (1 + bps / 1e4), size=size, expires_in_s=expires_in_s, p_fill=p_fill
    )


def fast_cheap_dealer(**overrides: float) -> PendingDealer:
    fields = {"p_answer": 0.95, "response_s": 1.0, "price_bps": 2.0, "price_sd_bps": 1.0, "p_fill": 0.99}
    fields.update(overrides)
    return PendingDealer(dealer="FAST", **fields)


def test_with_nobody_left_to_answer_the_desk_takes_the_best_quote() -> None:
    decision = wait_or_split(
        book=[quote("A", 8.0), quote("B", 5.0, p_fill=0.9)],
        pending=[],
        market=CALM,
        terms=OrderTerms(side="buy", quantity=10.0),
    )

    assert decision.action == "accept"
    # B: 5 bps + a 10 % chance of a 20 bps re-quote = 7 bps, cheaper than A's certain 8 bps.
    assert decision.fills == [("B", 10.0)]
    assert decision.costs["price"] == pytest.approx(5.0, abs=1e-6)
    assert decision.costs["certainty"] == pytest.approx(2.0)
    assert decision.costs["total"] == pytest.approx(sum(v for k, v in decision.costs.items() if k != "total"))


def test_waiting_pays_when_a_fast_cheap_dealer_is_about_to_answer_in_a_calm_market() -> None:
    decision = wait_or_split(
        book=[quote("A", 9.0)], pending=[fast_cheap_dealer()], market=CALM, terms=OrderTerms(side="buy", quantity=10.0)
    )

    assert decision.action == "wait"
    # The wait is the pending dealer's 80th response-time percentile (lognormal, median 1 s, log-sd 0.5).
    assert decision.wait_s == pytest.approx(lognorm(s=0.5, scale=1.0).ppf(0.8))
    assert decision.expected_gain_bps > 4.0
    assert decision.costs["delay"] == pytest.approx(0.05 * variance_bps2_per_s(0.4) * decision.wait_s)
    assert decision.costs["leakage"] > 0


def test_a_volatile_market_and_a_risk_averse_desk_take_the_price_now() -> None:
    terms = OrderTerms(side="buy", quantity=10.0, risk_aversion=5.0)

    decision = wait_or_split(
        book=[quote("A", 9.0)], pending=[fast_cheap_dealer(response_s=8.0)], market=WILD, terms=terms
    )

    assert decision.action == "accept"
    assert decision.expected_gain_bps <= 0
    assert any(name.startswith("wait") for name in decision.alternatives)


def test_a_book_too_small_for_the_order_is_split_with_the_algorithms() -> None:
    decision = wait_or_split(
        book=[quote("A", 4.0, size=4.0), quote("B", 6.0, size=2.0)],
        pending=[],
        market=CALM,
        terms=OrderTerms(side="buy", quantity=10.0),
    )

    assert decision.action == "split"
    assert decision.fills == [("A", 4.0), ("B", 2.0)]
    assert decision.algo_quantity == pytest.approx(4.0)
    assert decision.costs["algo"] == pytest.approx(
        0.4 * algo_cost_bps(4.0, CALM, OrderTerms(side="buy", quantity=10.0))
    )


def test_a_quote_dearer_than_the_algorithms_is_left_alone() -> None:
    terms = OrderTerms(side="buy", quantity=1.0)

    decision = wait_or_split(book=[quote("A", 80.0, size=1.0)], pending=[], market=CALM, terms=terms)

    assert decision.action == "split"
    assert decision.fills == []
    assert decision.algo_quantity == pytest.approx(1.0)


def test_a_good_quote_about_to_expire_is_taken_rather_than_waited_past() -> None:
    slow_and_dear = fast_cheap_dealer(response_s=6.0, price_bps=6.0)

    decision = wait_or_split(
        book=[quote("A", 3.0, expires_in_s=2.0)],
        pending=[slow_and_dear],
        market=CALM,
        terms=OrderTerms(side="buy", quantity=10.0),
    )

    assert decision.action == "accept"
    assert decision.fills == [("A", 10.0)]


def test_a_sell_order_measures_prices_below_mid_as_costs() -> None:
    below = BookQuote(dealer="A", price=99_950.0, size=5.0, expires_in_s=10.0)

    decision = wait_or_split(book=[below], pending=[], market=CALM, terms=OrderTerms(side="sell", quantity=5.0))

    assert decision.costs["price"] == pytest.approx(5.0)


def test_the_decision_is_a_pure_function_of_its_inputs() -> None:
    inputs = {
        "book": [quote("A", 9.0), quote("B", 7.0, size=5.0)],
        "pending": [fast_cheap_dealer(), fast_cheap_dealer(response_s=3.0, price_bps=1.0)],
        "market": CALM,
        "terms": OrderTerms(side="buy", quantity=10.0),
    }

    assert wait_or_split(**inputs) == wait_or_split(**inputs)


def test_bad_orders_are_refused() -> None:
    with pytest.raises(ValueError, match="side"):
        wait_or_split(book=[], pending=[], market=CALM, terms=OrderTerms(side="hold", quantity=1.0))
    with pytest.raises(ValueError, match="quantity"):
        wait_or_split(book=[], pending=[], market=CALM, terms=OrderTerms(side="buy", quantity=0.0))


def test_a_dealer_silent_so_far_answers_with_the_bayes_updated_probability() -> None:
    dealer = fast_cheap_dealer(p_answer=0.8, response_s=2.0, response_sigma=0.6, elapsed_s=1.5)
    law = lognorm(s=0.6, scale=2.0)

    reach = answer_reach(dealer, 3.0)

    # P(answers within 3 s more | silent for 1.5 s) = π (F(4.5) − F(1.5)) / (1 − π F(1.5)).
    expected = 0.8 * (law.cdf(4.5) - law.cdf(1.5)) / (1 - 0.8 * law.cdf(1.5))
    assert reach == pytest.approx(expected, rel=1e-9)
    assert answer_reach(dealer, 1e6) == pytest.approx(0.8 * (1 - law.cdf(1.5)) / (1 - 0.8 * law.cdf(1.5)))


def test_the_wait_considered_is_the_conditional_response_time_quantile() -> None:
    dealer = fast_cheap_dealer(response_s=2.0, response_sigma=0.6, elapsed_s=1.5)
    law = lognorm(s=0.6, scale=2.0)

    wait = wait_candidate_s(dealer, max_wait_s=30.0)

    assert law.cdf(1.5 + wait) == pytest.approx(law.cdf(1.5) + 0.8 * (1 - law.cdf(1.5)), rel=1e-9)
    assert wait_candidate_s(dealer, max_wait_s=0.5) == pytest.approx(0.5)


def test_the_algorithms_start_from_the_mid_of_now_not_the_arrival_mid() -> None:
    terms_buy, terms_sell = OrderTerms(side="buy", quantity=4.0), OrderTerms(side="sell", quantity=4.0)
    up = MarketState(mid=100_000.0, volatility=0.4, half_spread_bps=2.0, adv=20_000.0, move_bps=6.0)

    assert algo_cost_bps(4.0, up, terms_buy) == pytest.approx(algo_cost_bps(4.0, CALM, terms_buy) + 6.0)
    assert algo_cost_bps(4.0, up, terms_sell) == pytest.approx(algo_cost_bps(4.0, CALM, terms_sell) - 6.0)


def test_a_market_running_away_from_a_buyer_makes_waiting_dearer() -> None:
    book, pending = [quote("A", 9.0)], [fast_cheap_dealer(response_s=3.0)]
    terms = OrderTerms(side="buy", quantity=10.0)
    rising = MarketState(mid=100_000.0, volatility=0.4, half_spread_bps=2.0, adv=20_000.0, drift_bps_per_s=1.5)

    still = wait_or_split(book=book, pending=pending, market=CALM, terms=terms)
    running = wait_or_split(book=book, pending=pending, market=rising, terms=terms)

    wait = next(k for k in still.alternatives if k.startswith("wait"))
    # A new quote and the algorithms both move 1.5 bps/s × τ against the buyer; the book's quote does not.
    assert running.alternatives[wait] > still.alternatives[wait]
    assert running.expected_gain_bps < still.expected_gain_bps


# -- a wait is bounded by the best live quote's expiry, less the time an accept takes ----------------------------


def test_the_wait_ends_an_accept_before_the_best_quote_expires() -> None:
    # given a fast cheap dealer whose 80th response percentile (~1.5 s) lies past the best quote's life less L
    terms = OrderTerms(side="buy", quantity=10.0, accept_latency_s=1.0)
    book = [quote("A", 9.0, expires_in_s=2.2)]

    # when the desk decides
    decision = wait_or_split(book=book, pending=[fast_cheap_dealer()], market=CALM, terms=terms)

    # then any wait it recommends ends before 2.2 - 1.0 s, and the bound is that
    assert wait_bound_s(book, CALM, terms) == pytest.approx(1.2)
    assert decision.action != "wait" or decision.wait_s <= 1.2 + 1e-12
    assert all(float(name.split()[1][:-1]) <= 1.2 + 0.05 for name in decision.alternatives if name.startswith("wait"))


def test_with_no_bounded_wait_the_advice_is_accept_or_split() -> None:
    # given the same dealer the desk would wait for in a calm market, but the only quote expires within L
    terms = OrderTerms(side="buy", quantity=10.0, accept_latency_s=1.0)
    free = wait_or_split(
        book=[quote("A", 9.0, expires_in_s=20.0)], pending=[fast_cheap_dealer()], market=CALM, terms=terms
    )
    assert free.action == "wait"  # the wait pays when the quote lives long enough

    # when its quote has less than the accept latency plus any useful wait left
    pressed = wait_or_split(
        book=[quote("A", 9.0, expires_in_s=1.05)], pending=[fast_cheap_dealer()], market=CALM, terms=terms
    )

    # then only waits of at most 0.05 s (named to 0.1 s) were considered, none worth losing the quote for: the
    # desk acts now (the quote is still takeable, 1.05 s > L)
    assert pressed.action in ("accept", "split")
    assert pressed.fills == [("A", 10.0)] or pressed.algo_quantity > 0
    assert all(float(name.split()[1][:-1]) <= 0.1 for name in pressed.alternatives if name.startswith("wait"))


def test_a_quote_that_expires_before_an_accept_lands_is_never_taken_nor_waited_for() -> None:
    # given the best quote has 0.5 s left (less than L = 1 s) and a worse one lives on
    terms = OrderTerms(side="buy", quantity=10.0, accept_latency_s=1.0)
    dying, alive = quote("A", 1.0, expires_in_s=0.5), quote("B", 9.0, expires_in_s=20.0)

    # when the desk decides with nobody left to answer
    decision = wait_or_split(book=[dying, alive], pending=[], market=CALM, terms=terms)

    # then the dying quote is out of the book: the desk takes B, and B (not A) bounds any wait
    assert takeable([dying, alive], terms) == [alive]
    assert decision.fills == [("B", 10.0)]
    assert wait_bound_s([dying, alive], CALM, terms) == pytest.approx(19.0)


def test_an_expired_best_quote_is_not_waited_for_the_next_best_bounds_the_wait() -> None:
    # given the cheapest quote has expired (no time left) and the next lives 3 s
    terms = OrderTerms(side="buy", quantity=10.0, accept_latency_s=1.0)
    book = [quote("A", 1.0, expires_in_s=0.0), quote("B", 9.0, expires_in_s=3.0)]

    # when the desk decides with a dealer still to answer
    decision = wait_or_split(book=book, pending=[fast_cheap_dealer()], market=CALM, terms=terms)

    # then no fill names the expired quote, and a wait (if any) ends 1 s before B expires
    assert all(dealer != "A" for dealer, _ in decision.fills)
    assert decision.action != "wait" or decision.wait_s <= 2.0 + 1e-12


def test_the_bound_takes_the_best_by_price_and_the_best_by_effective_cost() -> None:
    # given the cheapest price (A, 5 bps, 50 % last look) and the cheapest all-in (B, 6 bps, certain) expire apart
    terms = OrderTerms(side="buy", quantity=10.0, accept_latency_s=0.5)
    book = [quote("A", 5.0, expires_in_s=4.0, p_fill=0.5), quote("B", 6.0, expires_in_s=9.0)]

    # then the wait must leave time to take either
    assert wait_bound_s(book, CALM, terms) == pytest.approx(3.5)
    assert wait_bound_s([], CALM, terms) == terms.max_wait_s


def _bound_oracle(book: list[BookQuote], terms: OrderTerms) -> float:
    """The bound from the rule as written, by hand: the best live quotes by price and by all-in cost."""
    live = [q for q in book if q.expires_in_s > terms.accept_latency_s]
    if not live:
        return terms.max_wait_s
    sign = 1.0 if terms.side == "buy" else -1.0
    by_price = min(live, key=lambda q: sign * q.price)
    by_cost = min(live, key=lambda q: sign * (q.price - CALM.mid) / CALM.mid * 1e4 + (1 - q.p_fill) * 20.0)
    return min(by_price.expires_in_s, by_cost.expires_in_s) - terms.accept_latency_s


_books = st.lists(
    st.builds(
        BookQuote,
        dealer=st.sampled_from(["A", "B", "C", "D"]),
        price=st.floats(99_800.0, 100_200.0),
        size=st.floats(1.0, 20.0),
        expires_in_s=st.floats(-2.0, 30.0),
        p_fill=st.floats(0.5, 1.0),
    ),
    max_size=4,
)
_pending = st.lists(
    st.builds(
        PendingDealer,
        dealer=st.sampled_from(["P", "Q", "R"]),
        p_answer=st.floats(0.05, 1.0),
        response_s=st.floats(0.1, 10.0),
        price_bps=st.floats(-20.0, 20.0),
        price_sd_bps=st.floats(0.1, 10.0),
        p_fill=st.floats(0.5, 1.0),
        response_sigma=st.floats(0.05, 1.5),
        elapsed_s=st.floats(0.0, 20.0),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    book=_books,
    pending=_pending,
    side=st.sampled_from(["buy", "sell"]),
    quantity=st.floats(1.0, 30.0),
    latency=st.floats(0.0, 3.0),
    max_wait=st.floats(0.0, 60.0),
    risk_aversion=st.floats(0.0, 0.2),
)
def test_no_recommendation_waits_past_the_best_live_quote_expiry_less_the_accept_latency(
    book: list[BookQuote],
    pending: list[PendingDealer],
    side: str,
    quantity: float,
    latency: float,
    max_wait: float,
    risk_aversion: float,
) -> None:
    # given any book, dealers still to answer and terms
    terms = OrderTerms(
        side=side, quantity=quantity, accept_latency_s=latency, max_wait_s=max_wait, risk_aversion=risk_aversion
    )

    # when the desk decides
    decision = wait_or_split(book=book, pending=pending, market=CALM, terms=terms, draws=64)

    # then a wait ends an accept's time before the best live quote (by price and by all-in cost) expires, within
    # the longest wait; no fill names a quote an accept cannot reach alive
    if decision.action == "wait":
        assert 0.0 < decision.wait_s <= min(_bound_oracle(book, terms), max_wait) + 1e-9
    reachable = {q.dealer for q in book if q.expires_in_s > latency}
    assert all(dealer in reachable for dealer, _ in decision.fills)
