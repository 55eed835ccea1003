"""The load test drives a real desk (the ASGI app on a socket) as REST dealers; bad arguments are refused in one
line before anything is provisioned."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from desk.market import venue_books_ensure
from rfq.models import RFQ, Counterparty, Quote
from tests import factories


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--url", "http://10.0.0.8:8000"], "only a desk on this machine"),
        (["--url", "https://127.0.0.1:8000"], "expected http://127.0.0.1"),
        (["--clients", "0"], "--clients 0"),
        (["--clients", "501"], "--clients 501"),
        (["--rate", "0"], "--rate 0"),
        (["--rate", "5001"], "--rate 5001"),
        (["--seconds", "0"], "--seconds 0"),
        (["--seconds", "601"], "--seconds 601"),
    ],
)
def test_bad_arguments_are_refused_by_name_and_nothing_is_provisioned(args: list[str], named: str, db) -> None:  # noqa: ANN001
    base = {"--url": "http://127.0.0.1:8000", "--clients": "2", "--seconds": "1"}
    base |= dict(zip(args[::2], args[1::2], strict=True))
    with pytest.raises(CommandError, match=named) as refused:
        call_command("loadtest", *[x for pair in base.items() for x in pair])
    assert "\n" not in str(refused.value)
    assert not Counterparty.objects.filter(code__startswith="LT").exists()


def test_an_open_loop_run_offers_its_rate_and_every_answer_is_counted(live_asgi: str, settings) -> None:  # noqa: ANN001
    # given a desk with its market and the instrument the load test quotes
    settings.DEBUG = True
    factories.instrument_create(symbol="BTC-USD")
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))

    # when 3 dealers together offer 30 requests a second for 2 s
    out = StringIO()
    call_command(
        "loadtest",
        "--url",
        f"http://{live_asgi}",
        "--clients",
        "3",
        "--rate",
        "30",
        "--seconds",
        "2",
        "--json",
        stdout=out,
    )
    figures = json.loads(out.getvalue())

    # then every offered request was answered (GETs 200, quotes 201), within the percentiles it reports
    assert figures["offered"] == 60
    assert figures["errors"] == 0, figures
    assert figures["requests"] == 60
    assert set(figures["statuses"]) <= {"200", "201"}
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    # and each quote it counted is stored on the desk, for the one RFQ it provisioned
    rfq = RFQ.objects.get(created_by__username="loadtest-trader")
    assert Quote.objects.filter(rfq=rfq).count() == figures["statuses"].get("201", 0) > 0
