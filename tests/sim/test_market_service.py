"""The running market service prices the desk's instruments from the simulated world and publishes both feeds."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from desk.demo import demo_seed
from desk.events import MARKET_GROUP
from desk.pricing import black_scholes
from risk.feed import feed_key
from sim.market import feed_verify
from sim.market_service import MarketService

pytestmark = pytest.mark.django_db


def test_fair_values_come_from_the_simulated_world(settings) -> None:  # noqa: ANN001
    settings.DEBUG = True
    demo_seed()
    service = MarketService(seed=5, publish=False)
    service.terms_load()
    spot_mid = service.simulator.book("BTC").mid

    spot = service.fair_value("BTC-USD")
    perp = service.fair_value("BTC-PERP")
    from desk.models import Instrument

    option = Instrument.objects.filter(kind="option", base_currency="BTC", option_type="call").first()
    call = service.fair_value(option.symbol)

    assert spot.price == pytest.approx(spot_mid)
    assert spot.kind == "spot"
    assert perp.price == pytest.approx(service.simulator.perpetual("BTC").mark)
    t = (option.expiry - service.simulator.now).total_seconds() / (365 * 86400)
    vol = float(service.simulator.implied_vol("BTC", float(option.strike), t))
    expected = black_scholes(spot_mid, float(option.strike), t, service.simulator.config.rate, vol, "call").price
    assert call.price == pytest.approx(expected, rel=1e-6)
    assert service.fair_value("DOGE-USD") is None


@pytest.mark.django_db(transaction=True)
def test_ticks_reach_the_market_group_signed() -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)("test.")
    async_to_sync(layer.group_add)(MARKET_GROUP, channel)
    service = MarketService(seed=5, tick_s=0.05).start()
    try:
        message = async_to_sync(layer.receive)(channel)
    finally:
        service.stop()
        async_to_sync(layer.group_discard)(MARKET_GROUP, channel)

    assert message["type"] == "market.tick"
    feeds = {(m["symbol"], m["feed"]) for m in message["messages"]}
    assert feeds == {("BTC", "A"), ("BTC", "B"), ("ETH", "A"), ("ETH", "B")}
    assert all(feed_verify(m, feed_key()) for m in message["messages"])
