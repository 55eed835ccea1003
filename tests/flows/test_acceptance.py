"""Flow acceptance check: rfq's quote_accept asks the pre-trade check registered by flows (risk on the positions)."""

from __future__ import annotations

import pytest

from desk.models import AuditEvent
from rfq import services
from rfq.models import DealerOrder
from risk.models import LimitKind, LimitScope
from tests import factories
from tests.risk.factories import limit_create

pytestmark = pytest.mark.django_db


def test_an_acceptance_over_a_limit_is_refused_and_only_audited(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given a notional limit of 100 and a quote for 5 at 101
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="100")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    quote = factories.quote_create(rfq=rfq, dealer=dealer, offer="101")

    # when the trader takes it
    with pytest.raises(services.QuoteRefused, match="refused by risk"):
        services.quote_accept(quote=quote, actor=trader)

    # then no dealer order exists; only the refusal's audit is kept
    assert not DealerOrder.objects.exists()
    assert not AuditEvent.objects.filter(action="quote.accept").exists()
    assert AuditEvent.objects.filter(action="risk.refused").exists()
