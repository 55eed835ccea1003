"""The desk's pages without a browser: every role is checked on the server, forms name the wrong field and keep
what was typed, the audit export states its verification."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.core.management import call_command

from desk import selectors
from desk.audit import audit_record, audit_seal, chain_verify
from desk.models import AuditEvent, InstrumentKind, OptionType
from rfq.models import RFQ, Quote, QuoteStatus, RFQStatus
from risk.models import KillSwitch
from risk.services import kill_switch_engage
from tests import factories
from tests.audit_tamper import intruder_cursor

pytestmark = pytest.mark.django_db

DESK_PAGES = ["/desk/", "/desk/rfq/new/", "/desk/risk/", "/desk/compliance/", "/desk/compliance/?format=csv"]
POSTS = [
    "/desk/rfq/new/",
    "/desk/risk/engage/",
    "/desk/risk/rearm/",
    "/desk/compliance/",
    "/desk/",
]


def _ticket(instrument: str, dealers: list[str], **extra: str) -> dict:
    data = {
        "package_type": "single",
        "expires_in_s": "60",
        "leg1_instrument": instrument,
        "leg1_side": "buy",
        "leg1_ratio": "1",
        "leg1_quantity": "2.5",
        "dealers": dealers,
    }
    data.update(extra)
    return data


def _option(symbol: str, option_type: str, strike: str, underlying, expiry: datetime):  # noqa: ANN001, ANN202
    return factories.instrument_create(
        symbol=symbol,
        kind=InstrumentKind.OPTION,
        option_type=option_type,
        strike=Decimal(strike),
        underlying=underlying,
        expiry=expiry,
        lot_size=Decimal("0.1"),
    )


# --- roles ---------------------------------------------------------------------------------------------------


def test_dealer_gets_403_on_every_desk_page(client_for, dealer, instrument, trader) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    client = client_for(dealer.user)

    for url in [*DESK_PAGES, f"/desk/rfq/{rfq.reference}/"]:
        assert client.get(url).status_code == 403, url
    for url in POSTS[:3]:
        assert client.post(url, {"scope": "desk", "reason": "x"}).status_code == 403, url


def test_anonymous_is_sent_to_login_from_every_page(client) -> None:  # noqa: ANN001
    for url in ["/desk/rfq/new/", "/desk/risk/", "/desk/compliance/", "/desk/rfq/RFQ-X/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/desk/login/")


def test_compliance_cannot_post_anything(client_for, compliance, trader, dealer, instrument) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    quote = factories.quote_create(rfq=rfq, dealer=dealer)
    kill_switch_engage(scope="desk", scope_key="", reason="drill", actor="system:test")
    client = client_for(compliance)

    refused = {
        url: client.post(url, {"scope": "desk", "scope_key": "", "reason": "x"}).status_code
        for url in [*POSTS, f"/desk/rfq/{rfq.reference}/"]
    }
    ticket = client.post("/desk/rfq/new/", _ticket(instrument.symbol, [dealer.code]))
    accept = client.post(f"/api/v1/quotes/{quote.pk}/accept/")
    create = client.post(
        "/api/v1/rfqs/",
        {"legs": [{"instrument": instrument.symbol, "side": "buy", "quantity": "1"}], "dealers": [dealer.code]},
        content_type="application/json",
    )

    assert all(status in (403, 405) for status in refused.values()), refused
    assert ticket.status_code == 403
    assert accept.status_code == 403
    assert create.status_code == 403
    assert RFQ.objects.count() == 1
    # The kill switch cancelled the open RFQ's quote; compliance's accept changed nothing.
    assert Quote.objects.get().status == QuoteStatus.CANCELLED
    assert KillSwitch.objects.get().engaged


def test_compliance_sees_the_audit_page_but_no_trading_page(client_for, compliance) -> None:  # noqa: ANN001
    client = client_for(compliance)

    assert client.get("/desk/compliance/").status_code == 200
    assert client.get("/desk/rfq/new/").status_code == 403
    assert client.get("/desk/risk/").status_code == 200
    assert b"Engage a kill switch" not in client.get("/desk/risk/").content


def test_trader_cannot_rearm_or_engage(client_for, trader) -> None:  # noqa: ANN001
    kill_switch_engage(scope="desk", scope_key="", reason="drill", actor="system:test")
    client = client_for(trader)

    page = client.get("/desk/risk/")
    rearm = client.post("/desk/risk/rearm/", {"scope": "desk", "scope_key": "", "reason": "back to work"})
    engage = client.post("/desk/risk/engage/", {"scope": "book", "scope_key": "B1", "reason": "mine"})
    api = client.post(
        "/api/v1/risk/kill-switches/rearm/", {"scope": "desk", "reason": "x"}, content_type="application/json"
    )

    assert page.status_code == 200
    assert b"risk officers only" in page.content
    assert b"Re-arm</button>" not in page.content
    assert rearm.status_code == 403
    assert engage.status_code == 403
    assert api.status_code == 403
    assert KillSwitch.objects.get(scope="desk").engaged
    assert not KillSwitch.objects.filter(scope="book").exists()


def test_risk_officer_engages_and_rearms(client_for, risk_officer) -> None:  # noqa: ANN001
    client = client_for(risk_officer)

    engaged = client.post("/desk/risk/engage/", {"scope": "desk", "scope_key": "", "reason": "drill"}, follow=True)
    page = engaged.content.decode()
    rearmed = client.post("/desk/risk/rearm/", {"scope": "desk", "scope_key": "", "reason": "drill over"})

    assert "Kill switch desk engaged." in page
    assert "ENGAGED" in page
    assert "Re-arm</button>" in page
    assert rearmed.status_code == 302
    assert not KillSwitch.objects.get(scope="desk").engaged


def test_engage_without_a_reason_names_the_field_and_keeps_the_input(client_for, risk_officer) -> None:  # noqa: ANN001
    response = client_for(risk_officer).post("/desk/risk/engage/", {"scope": "book", "scope_key": "BOOK-7"})

    assert response.status_code == 400
    assert "Reason: say why" in response.content.decode()
    assert 'value="BOOK-7"' in response.content.decode()
    assert not KillSwitch.objects.exists()


def test_navigation_follows_the_role(client_for, trader, risk_officer, compliance) -> None:  # noqa: ANN001
    pages = {
        user.username: client_for(user).get("/desk/").content.decode() for user in (trader, risk_officer, compliance)
    }

    assert 'href="/desk/rfq/new/"' in pages["trader-t"]
    assert 'href="/desk/compliance/"' not in pages["trader-t"]
    assert 'href="/desk/rfq/new/"' not in pages["risk-t"]
    assert 'href="/desk/risk/"' in pages["risk-t"]
    assert 'href="/desk/compliance/"' in pages["compliance-t"]
    assert 'href="/desk/rfq/new/"' not in pages["compliance-t"]


# --- RFQ ticket and quote board ------------------------------------------------------------------------------


def test_ticket_lists_active_dealers_with_their_connection(client_for, trader, dealer, instrument) -> None:  # noqa: ANN001
    cache.clear()  # dealer presence lives in the cache: an earlier test's dealer requests would show here
    page = client_for(trader).get("/desk/rfq/new/").content.decode()

    assert 'value="ALPHA"' in page
    assert "no request yet" in page
    assert "offline" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_ticket_sends_the_rfq_and_opens_its_board(client_for, trader, dealer, other_dealer, instrument) -> None:  # noqa: ANN001
    client = client_for(trader)

    response = client.post("/desk/rfq/new/", _ticket(instrument.symbol, ["ALPHA", "BRAVO"]))

    rfq = RFQ.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/desk/rfq/{rfq.reference}/"
    assert rfq.status == RFQStatus.SENT
    assert sorted(rfq.quote_requests.values_list("dealer__code", flat=True)) == ["ALPHA", "BRAVO"]
    board = client.get(response["Location"])
    assert board.status_code == 200
    assert f'data-api="/api/v1/rfqs/{rfq.reference}/"' in board.content.decode()


def test_ticket_error_names_the_field_and_keeps_what_was_typed(client_for, trader, dealer, instrument) -> None:  # noqa: ANN001
    response = client_for(trader).post(
        "/desk/rfq/new/", _ticket(instrument.symbol, ["ALPHA"], leg1_quantity="0.00005", expires_in_s="61")
    )
    page = response.content.decode()

    assert response.status_code == 400
    assert "Leg 1 quantity</a>: must be a whole number of lots of 0.0001" in page
    assert 'value="0.00005"' in page
    assert f'value="{instrument.symbol}" data-kind="spot" data-option-type="" selected' in page
    assert 'value="61"' in page
    assert 'value="ALPHA"' in page
    assert "checked" in page
    assert not RFQ.objects.exists()


def test_ticket_without_dealers_says_so(client_for, trader, dealer, instrument) -> None:  # noqa: ANN001
    response = client_for(trader).post("/desk/rfq/new/", _ticket(instrument.symbol, []))

    assert response.status_code == 400
    assert "Dealers</a>: choose at least one dealer" in response.content.decode()


def test_ticket_builds_a_call_spread_and_checks_its_shape(client_for, trader, dealer) -> None:  # noqa: ANN001
    spot = factories.instrument_create(symbol="BTC-SPOT")
    expiry = datetime(2027, 3, 26, 8, tzinfo=UTC)
    low = _option("BTC-26MAR27-60000-C", OptionType.CALL, "60000", spot, expiry)
    high = _option("BTC-26MAR27-70000-C", OptionType.CALL, "70000", spot, expiry)
    put = _option("BTC-26MAR27-60000-P", OptionType.PUT, "60000", spot, expiry)
    client = client_for(trader)
    spread = _ticket(
        low.symbol,
        ["ALPHA"],
        package_type="call_spread",
        leg1_quantity="10",
        leg2_instrument=high.symbol,
        leg2_side="sell",
        leg2_ratio="2",
        leg2_quantity="20",
    )

    wrong_type = client.post("/desk/rfq/new/", spread | {"leg2_instrument": put.symbol})
    same_side = client.post("/desk/rfq/new/", spread | {"leg2_side": "buy"})
    sent = client.post("/desk/rfq/new/", spread)

    assert wrong_type.status_code == 400
    assert "Leg 2 instrument</a>: a call spread needs a call here" in wrong_type.content.decode()
    assert same_side.status_code == 400
    assert "Leg 2 side</a>: a call spread buys one leg and sells the other" in same_side.content.decode()
    assert sent.status_code == 302
    rfq = RFQ.objects.get()
    assert rfq.package_type == "call_spread"
    assert [(leg.instrument.symbol, leg.side, leg.ratio) for leg in rfq.legs.order_by("leg_no")] == [
        (low.symbol, "buy", 1),
        (high.symbol, "sell", 2),
    ]


def test_quote_board_of_an_unknown_rfq_is_404(client_for, trader) -> None:  # noqa: ANN001
    assert client_for(trader).get("/desk/rfq/RFQ-NOPE/").status_code == 404


def test_risk_officer_sees_the_board_without_accept(client_for, risk_officer, trader, dealer, instrument) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])

    page = client_for(risk_officer).get(f"/desk/rfq/{rfq.reference}/").content.decode()

    assert 'data-can-accept="0"' in page


# --- compliance ---------------------------------------------------------------------------------------------


def _streamed(response) -> str:  # noqa: ANN001
    # The export streams from an async iterator (the ASGI server's way); the test client hands it over as is.
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


def _actions_listed(page: str) -> set[str]:
    table = page.split('<table id="audit">', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r"<td>([a-z_]+\.[a-z_.]+)</td>", table))


def _some_events(trader, dealer, instrument) -> RFQ:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    factories.quote_create(rfq=rfq, dealer=dealer)
    return rfq


def test_compliance_filters_the_log_and_shows_the_verification(
    client_for, compliance, trader, dealer, instrument
) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    client = client_for(compliance)

    everything = client.get("/desk/compliance/").content.decode()
    only_dealer = client.get("/desk/compliance/", {"actor": "dealer:ALPHA"}).content.decode()
    by_prefix = client.get("/desk/compliance/", {"action": "rfq."}).content.decode()

    assert "Hash chain verified: OK" in everything
    assert {"quote.receive", "rfq.send"} <= _actions_listed(everything)
    assert _actions_listed(only_dealer) == {"quote.receive"}
    assert _actions_listed(by_prefix) == {"rfq.send"}
    assert 'value="dealer:ALPHA"' in only_dealer


def test_compliance_suggestions_are_each_columns_distinct_values_in_order(trader, dealer, instrument) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    audit_record(actor="system:zeta", action="a.first", object_type="")

    choices = selectors.audit_choices()
    first_two = selectors.audit_choices(limit=2)

    for field in ("actor", "object_type", "action"):
        distinct = list(
            AuditEvent.objects.order_by(field).values_list(field, flat=True).distinct()
        )  # the database's order
        assert choices[field] == distinct
        assert first_two[field] == distinct[:2]


def test_compliance_counts_sealed_and_pending_events_without_counting_the_table(
    client_for, compliance, trader, dealer, instrument
) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    client = client_for(compliance)
    client.get("/desk/compliance/")
    audit_record(actor="system:late", action="late.event")  # committed after the page's seal: pending

    report = chain_verify(seal=False)
    total = AuditEvent.objects.count()

    assert report.pending == 1
    assert selectors.audit_events_count(filters=selectors.AuditFilter(), report=report) == total
    assert f"{total} events" in client.get("/desk/compliance/").content.decode()


def test_compliance_range_error_names_the_field(client_for, compliance) -> None:  # noqa: ANN001
    response = client_for(compliance).get("/desk/compliance/", {"start": "2026-01-02T00:00", "end": "2026-01-01T00:00"})

    assert response.status_code == 400
    assert "To (UTC): must be after From" in response.content.decode()


def test_compliance_log_is_paginated(client_for, compliance, trader, dealer, instrument) -> None:  # noqa: ANN001
    for _ in range(30):
        _some_events(trader, dealer, instrument)
    client = client_for(compliance)

    first = client.get("/desk/compliance/").content.decode()
    second = client.get("/desk/compliance/", {"page": 2}).content.decode()

    assert "page 1 of" in first
    assert "older ›" in first
    assert "page 2 of" in second


def test_csv_export_states_the_verification_and_keeps_the_filter(
    client_for, compliance, trader, dealer, instrument
) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)

    response = client_for(compliance).get("/desk/compliance/", {"actor": "dealer:ALPHA", "format": "csv"})
    body = _streamed(response)
    first, rest = body.split("\n", 1)
    rows = list(csv.DictReader(io.StringIO(rest)))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["X-Audit-Chain"].startswith("audit chain OK")
    assert first.startswith("# audit chain OK: ")
    assert [row["action"] for row in rows] == ["quote.receive"]
    assert json.loads(rows[0]["after"])["dealer"] == "ALPHA"


def test_jsonl_export_starts_with_the_chain_report(client_for, compliance, trader, dealer, instrument) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)

    response = client_for(compliance).get("/desk/compliance/", {"format": "jsonl"})
    lines = [json.loads(line) for line in _streamed(response).splitlines()]

    assert lines[0]["audit_chain"]["ok"] is True
    assert lines[0]["audit_chain"]["events"] == AuditEvent.objects.count()
    assert [line["seq"] for line in lines[1:]] == list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))


def test_export_is_refused_to_roles_without_export(client_for, risk_officer, trader) -> None:  # noqa: ANN001
    assert client_for(risk_officer).get("/desk/compliance/").status_code == 200
    assert client_for(risk_officer).get("/desk/compliance/", {"format": "csv"}).status_code == 403
    assert client_for(trader).get("/desk/compliance/").status_code == 403


def test_export_of_an_unknown_format_is_400(client_for, compliance) -> None:  # noqa: ANN001
    assert client_for(compliance).get("/desk/compliance/", {"format": "xml"}).status_code == 400


def _tamper_newest_event() -> None:
    # The model refuses updates (and PostgreSQL's guard, which the intruder switches off as the tables' owner could):
    # a raw UPDATE of a chained event is what an intruder with database access would do.
    audit_seal()
    with intruder_cursor() as cursor:
        table = AuditEvent._meta.db_table
        cursor.execute(f"UPDATE {table} SET action = %s WHERE seq = (SELECT MAX(seq) FROM {table})", ["forged"])


def test_export_command_writes_a_range_and_states_ok(tmp_path, trader, dealer, instrument, capsys) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    out = tmp_path / "audit.jsonl"
    now = datetime.now(UTC)

    call_command(
        "export_audit",
        "--from",
        (now - timedelta(hours=1)).isoformat(),
        "--to",
        (now + timedelta(hours=1)).isoformat(),
        "--format",
        "jsonl",
        "--output",
        str(out),
    )

    lines = out.read_text().splitlines()
    assert "audit chain OK" in capsys.readouterr().out
    assert json.loads(lines[0])["audit_chain"]["ok"] is True
    assert len(lines) == 1 + AuditEvent.objects.count()


def test_export_command_exits_non_zero_on_a_broken_chain(tmp_path, trader, dealer, instrument, capsys) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    _tamper_newest_event()
    out = tmp_path / "audit.csv"

    with pytest.raises(SystemExit) as exit_info:
        call_command("export_audit", "--format", "csv", "--output", str(out))

    assert exit_info.value.code == 1
    assert "audit chain BROKEN" in capsys.readouterr().out
    assert out.read_text().startswith("# audit chain BROKEN")


def test_compliance_page_shows_a_broken_chain(client_for, compliance, trader, dealer, instrument) -> None:  # noqa: ANN001
    _some_events(trader, dealer, instrument)
    _tamper_newest_event()

    page = client_for(compliance).get("/desk/compliance/").content.decode()

    assert "Hash chain BROKEN" in page


def test_ticket_builds_a_strangle_and_a_calendar_the_server_accepts(client_for, trader, dealer) -> None:  # noqa: ANN001
    spot = factories.instrument_create(symbol="BTC-SPOT")
    near = datetime(2027, 3, 26, 8, tzinfo=UTC)
    far = datetime(2027, 6, 25, 8, tzinfo=UTC)
    call = _option("BTC-26MAR27-70000-C", OptionType.CALL, "70000", spot, near)
    put = _option("BTC-26MAR27-60000-P", OptionType.PUT, "60000", spot, near)
    high_put = _option("BTC-26MAR27-80000-P", OptionType.PUT, "80000", spot, near)
    far_call = _option("BTC-25JUN27-70000-C", OptionType.CALL, "70000", spot, far)
    client = client_for(trader)
    strangle = _ticket(call.symbol, ["ALPHA"], package_type="strangle", leg1_quantity="5") | {
        "leg2_instrument": put.symbol,
        "leg2_side": "buy",
        "leg2_ratio": "1",
        "leg2_quantity": "5",
    }
    calendar = _ticket(call.symbol, ["ALPHA"], package_type="calendar", leg1_quantity="5", leg1_side="sell") | {
        "leg2_instrument": far_call.symbol,
        "leg2_side": "buy",
        "leg2_ratio": "1",
        "leg2_quantity": "5",
    }

    inverted = client.post("/desk/rfq/new/", strangle | {"leg2_instrument": high_put.symbol})
    same_expiry = client.post("/desk/rfq/new/", calendar | {"leg2_instrument": call.symbol})
    assert inverted.status_code == 400
    assert "Leg 2 instrument</a>: a strangle&#x27;s put strike is below its call strike" in inverted.content.decode()
    assert same_expiry.status_code == 400
    assert "a calendar&#x27;s legs have different expiries" in same_expiry.content.decode()

    assert client.post("/desk/rfq/new/", strangle).status_code == 302
    assert client.post("/desk/rfq/new/", calendar).status_code == 302
    assert sorted(RFQ.objects.values_list("package_type", flat=True)) == ["calendar", "strangle"]
