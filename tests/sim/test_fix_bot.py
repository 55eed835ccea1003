"""A simulated FIX dealer (its own minimal engine) trades with the desk's FIX gateway over TCP."""

from __future__ import annotations

import threading
import time

import pytest

from execution.models import Fill
from rfq import services
from rfq.models import Connectivity, FixSession, FixSessionStatus, Quote
from sim.dealers.fix_bot import FixDealerBot
from sim.dealers.profiles import DealerProfile
from sim.dealers.rest_bot import FairValue
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROFILE = DealerProfile(
    "FIXA",
    pricing_noise_bps=2.0,
    half_spread_bps=5.0,
    size_spread_bps_per_million=0.0,
    response_median_s=0.05,
    response_sigma=0.1,
    no_answer_prob=0.0,
    last_look_reject_prob=0.0,
)


def _wait(condition, seconds: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_fix_bot_logs_on_quotes_and_fills(trader, instrument) -> None:  # noqa: ANN001
    from rfq.fix.acceptor import fix_gateway_thread

    dealer = factories.dealer_create(code="FIXA", connectivity=Connectivity.FIX)
    dealer.set_fix_password("fix-secret-1")
    dealer.save(update_fields=["fix_password_hash"])
    gateway = fix_gateway_thread(port=0)
    stop = threading.Event()
    bot = FixDealerBot(
        profile=PROFILE,
        host="127.0.0.1",
        port=gateway.port,
        comp_id="FIXA",
        password="fix-secret-1",
        fair_value=lambda symbol: FairValue(price=100.0, kind="spot", contract_notional=100.0, tick=0.01),
        stop_event=stop,
        heartbeat_s=5,
    )
    bot.start()
    try:
        assert bot.logged_on.wait(10), "the FIX dealer never logged on"
        rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
        assert _wait(lambda: Quote.objects.filter(rfq=rfq).exists()), "no Quote (S) came back"
        quote = Quote.objects.get(rfq=rfq)
        services.quote_accept(quote=quote, actor=trader)
        assert _wait(lambda: Fill.objects.filter(quote=quote).exists()), "no ExecutionReport fill came back"
        assert FixSession.objects.get(target_comp_id="FIXA").status == FixSessionStatus.LOGGED_ON
    finally:
        stop.set()
        bot.join(10)
        gateway.stop()

    fill = Fill.objects.get(quote=quote)
    leg = quote.legs.get()
    assert fill.price == leg.offer_price
    assert leg.bid_price < 100 < leg.offer_price
    assert _wait(lambda: FixSession.objects.get(target_comp_id="FIXA").status == FixSessionStatus.DISCONNECTED, 5)
