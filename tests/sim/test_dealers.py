"""Simulated dealers: their answers follow their hidden parameters, and a REST bot trades over real HTTP."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from execution.models import Fill
from rfq import services
from rfq.models import Quote
from sim.dealers.population import MarketBehaviour, Population, true_costs
from sim.dealers.profiles import DEMO_PROFILES, DealerProfile, LegRequest, dealer_answer, dealer_last_look
from sim.dealers.rest_bot import FairValue, RestDealerBot
from sim.scoring import InstrumentTerms
from tests import factories

PROFILE = DealerProfile(
    "TEST",
    pricing_noise_bps=5.0,
    half_spread_bps=10.0,
    size_spread_bps_per_million=2.0,
    response_median_s=0.05,
    response_sigma=0.1,
    no_answer_prob=0.0,
)
LEG = LegRequest(leg_no=1, kind="spot", side="buy", quantity=10.0, fair_price=100_000.0, contract_notional=100_000.0)


def test_quotes_centre_on_fair_value_with_the_dealers_noise_and_spread() -> None:
    rng = np.random.default_rng(7)

    answers = [dealer_answer(PROFILE, [LEG], rng) for _ in range(4000)]

    mids = np.array([(a.legs[0].bid_price + a.legs[0].offer_price) / 2 for a in answers])
    spreads_bps = np.array([(a.legs[0].offer_price - a.legs[0].bid_price) / LEG.fair_price * 1e4 for a in answers])
    error_bps = (mids - LEG.fair_price) / LEG.fair_price * 1e4
    assert abs(error_bps.mean()) < 0.5
    assert error_bps.std() == pytest.approx(PROFILE.pricing_noise_bps, rel=0.05)
    # half-spread 10 bps + 2 bps per million on 1 million notional: 24 bps wide, to the cent
    assert np.median(spreads_bps) == pytest.approx(24.0, abs=0.01)


def test_no_answer_and_appetite_follow_their_probabilities() -> None:
    rng = np.random.default_rng(11)
    flaky = replace(PROFILE, no_answer_prob=0.3, appetite={"spot": 0.5})

    actions = [dealer_answer(flaky, [LEG], rng).action for _ in range(5000)]

    assert actions.count("silent") / len(actions) == pytest.approx(0.3, abs=0.02)
    assert actions.count("decline") / len(actions) == pytest.approx(0.7 * 0.5, abs=0.02)


def test_last_look_rejects_an_adverse_move_beyond_the_threshold() -> None:
    rng = np.random.default_rng(3)
    honest = replace(PROFILE, last_look_reject_prob=0.0, last_look_move_bps=15.0)

    # The desk bought at 100; fair moved to 100.2 (+20 bps against the dealer): rejected. To 100.1: honoured.
    assert not dealer_last_look(honest, desk_side="buy", quoted_price=100.0, fair_now=100.2, rng=rng)
    assert dealer_last_look(honest, desk_side="buy", quoted_price=100.0, fair_now=100.1, rng=rng)
    # The desk sold at 100 and fair fell: the dealer bought too high.
    assert not dealer_last_look(honest, desk_side="sell", quoted_price=100.0, fair_now=99.7, rng=rng)


def test_demo_dealers_differ_in_their_measured_all_in_cost() -> None:
    # Given the demo dealers in a market where informed flow moves 0.5 bps/s and the fallback fills 5 s after a failure
    population = Population(
        "demo", 0, dict(DEMO_PROFILES), MarketBehaviour(flow_drift_bps_per_s=0.5, requote_delay_s=5)
    )
    terms = [
        InstrumentTerms(SimpleNamespace(symbol="T-BTC"), "spot", "BTC", 0.5, Decimal("0.0001"), 1.0),  # type: ignore[arg-type]
        InstrumentTerms(SimpleNamespace(symbol="T-BTC-PERP"), "perpetual", "BTC", 0.5, Decimal("0.001"), 1.0),  # type: ignore[arg-type]
    ]

    # When each trades 300 RFQs alone
    truth = true_costs(population, terms=terms, rfqs_per_dealer=300, seed=5)

    # Then the tight and reliable dealer costs least, the wide and leaky one most, each measured to well under a bp
    assert len(truth) == 8
    assert truth["cost_bps"].idxmin() == "ALPHA"
    assert truth["cost_bps"].idxmax() == "HOTEL"
    assert (truth["cost_se_bps"] < 1.0).all()
    # And the outcomes follow the hidden parameters: ECHO is silent about a quarter of the time
    assert truth.loc["ECHO", "silent_rate"] == pytest.approx(0.25, abs=0.06)


def _wait(condition, seconds: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.e2e
def test_rest_bot_quotes_and_fills_over_http(live_asgi: str, trader, instrument) -> None:  # noqa: ANN001
    dealer = factories.dealer_create(code="ALPHA", secret="alpha-secret-123")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    stop = threading.Event()
    bot = RestDealerBot(
        profile=replace(PROFILE, code="ALPHA", last_look_reject_prob=0.0),
        base_url=f"http://{live_asgi}",
        key_id="key-alpha",
        secret="alpha-secret-123",
        fair_value=lambda symbol: FairValue(price=100.0, kind="spot", contract_notional=100.0, tick=0.01),
        stop_event=stop,
        poll_s=0.05,
    )
    bot.start()
    try:
        assert _wait(lambda: Quote.objects.filter(rfq=rfq).exists()), "the bot never quoted"
        quote = Quote.objects.get(rfq=rfq)
        offer = quote.legs.get().offer_price
        services.quote_accept(quote=quote, actor=trader)
        assert _wait(lambda: Fill.objects.filter(quote=quote).exists()), "the bot never filled"
    finally:
        stop.set()
        bot.join(5)

    fill = Fill.objects.get(quote=quote)
    assert fill.price == offer
    assert 99.0 < float(offer) < 101.0
    assert bot.connected
