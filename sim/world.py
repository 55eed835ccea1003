"""The simulated world the embedded desk runs with: the market and the demo dealers, started by ``rundesk``.

Demo only: the dealers log in with the demo credentials that ``seed_demo`` creates, so this never runs with
``DESK_DEBUG=0``."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from django.conf import settings

from desk.demo import demo_password
from rfq.models import Connectivity, Counterparty, CounterpartyStatus
from risk.monitor import MarketHealthService
from sim.dealers.fix_bot import FixDealerBot
from sim.dealers.profiles import DEMO_PROFILES
from sim.dealers.rest_bot import RestDealerBot
from sim.market_service import MarketService
from tca.tape import tape_recorder_start

logger = logging.getLogger(__name__)


@dataclass
class Simulation:
    market: MarketService
    stop_event: threading.Event = field(default_factory=threading.Event)
    rest_bots: list[RestDealerBot] = field(default_factory=list)
    fix_bots: list[FixDealerBot] = field(default_factory=list)
    health: MarketHealthService | None = None

    def stop(self) -> None:
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        # The monitor stops before the market: a silent market reads as stale and would trip every breaker.
        if self.health is not None:
            self.health.stop()
        for bot in [*self.rest_bots, *self.fix_bots]:
            bot.join(5)
        self.market.stop()


def simulation_start(*, base_url: str, fix_port: int | None = None, seed: int = 20261125) -> Simulation:
    """Start the market, then one bot per active demo dealer on its own transport (FIX ones only when the
    gateway listens on ``fix_port``)."""
    if not settings.DEBUG:
        raise RuntimeError("the simulated dealers use demo credentials: refused when DESK_DEBUG=0")
    # The health monitor subscribes before the market's first tick, so that it misses nothing.
    health = MarketHealthService().start()
    if os.environ.get("DESK_REQUIRE_VALIDATED_PRICE") != "0":
        # The monitor runs in this process, beside the worker thread: from now on no order leaves without a price it
        # validated (the rule production has on by default); DESK_REQUIRE_VALIDATED_PRICE=0 turns it off.
        settings.RISK_REQUIRE_VALIDATED_PRICE = True
    simulation = Simulation(market=MarketService(seed=seed).start(), health=health)
    tape_recorder_start(source=simulation.market.tape_source())  # TCA's market tape: stops with the market
    dealers = Counterparty.objects.filter(code__in=DEMO_PROFILES, status=CounterpartyStatus.ACTIVE).order_by("code")
    for index, dealer in enumerate(dealers):
        if dealer.connectivity == Connectivity.REST:
            bot = RestDealerBot(
                profile=DEMO_PROFILES[dealer.code],
                base_url=base_url,
                key_id=dealer.api_key_id,
                secret=demo_password(dealer.code.lower()),
                fair_value=simulation.market.fair_value,
                stop_event=simulation.stop_event,
                seed=seed + index,
            )
            bot.start()
            simulation.rest_bots.append(bot)
        elif dealer.connectivity == Connectivity.FIX and fix_port and dealer.fix_sender_comp_id:
            fix_bot = FixDealerBot(
                profile=DEMO_PROFILES[dealer.code],
                host="127.0.0.1",
                port=fix_port,
                comp_id=dealer.fix_sender_comp_id,
                password=demo_password(dealer.code.lower()),
                fair_value=simulation.market.fair_value,
                stop_event=simulation.stop_event,
                seed=seed + index,
            )
            fix_bot.start()
            simulation.fix_bots.append(fix_bot)
    logger.info(
        "simulation: market started, %d REST and %d FIX dealers connecting",
        len(simulation.rest_bots),
        len(simulation.fix_bots),
    )
    return simulation
