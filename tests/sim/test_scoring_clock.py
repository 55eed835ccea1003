"""A simulated scoring history moves the desk clock for its own context only (no process-wide patch)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from desk import clock
from desk.roles import Role
from rfq.models import RFQ, Counterparty
from sim.dealers.profiles import DEMO_PROFILES
from sim.market import MarketSimulator
from sim.scoring import RFQContext, dealers_random, scoring_simulate
from tests import factories

START = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_thread_keeps_the_wall_clock_while_the_simulated_history_runs() -> None:
    # given the simulated dealers and one instrument, and a market that starts long ago
    trader = factories.user_create(role=Role.TRADER, username="trader-clock")
    instrument = factories.instrument_create(
        symbol="SIM-BTC-USD", base_currency="BTC", tick_size=Decimal("0.5"), lot_size=Decimal("0.0001")
    )
    dealers = [factories.dealer_create(code=code) for code in DEMO_PROFILES]
    seen: list[tuple[datetime, datetime, datetime]] = []

    def choose(context: RFQContext, eligible: list[Counterparty], rng: np.random.Generator) -> list[Counterparty]:
        other: list[datetime] = []
        thread = threading.Thread(target=lambda: other.append(clock.now()))
        thread.start()
        thread.join()
        seen.append((context.sent_at, clock.now(), other[0]))
        return dealers_random(context, eligible, rng)

    # when the history is booked while another thread reads the desk clock
    result = scoring_simulate(
        n_rfqs=3,
        seed=5,
        dealers=dealers,
        profiles=DEMO_PROFILES,
        instruments=[instrument],
        actor=trader,
        choose=choose,
        market=MarketSimulator(5, start=START),
    )

    # then the simulation's own context ran at simulated times, the other thread at the wall clock
    assert result.rfqs == 3
    assert len(seen) == 3
    for sent_at, inside, other in seen:
        assert inside == sent_at
        assert inside < START + timedelta(days=1)
        assert abs(other - datetime.now(UTC)) < timedelta(minutes=5)
    # the auto_now stamps read the simulated clock too, and the clock is back to the wall clock afterwards
    assert sorted(RFQ.objects.values_list("created_at", flat=True)) == [sent_at for sent_at, _, _ in seen]
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=5)
