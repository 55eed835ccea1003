"""`manage.py rundesk` as a user starts it: login page, blotter, live events from its own worker and beat,
and Ctrl-C stops every part."""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from websockets.sync.client import connect

from tests.conftest import REPO_ROOT, free_port
from tests.e2e.conftest import wait_for_url

pytestmark = [pytest.mark.e2e, pytest.mark.own_database]


def _login(base: str, username: str) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/desk/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": f"demo-{username}", "csrfmiddlewaretoken": token})
    request = urllib.request.Request(f"{base}/desk/login/", data=body.encode(), headers={"Referer": f"{base}/"})
    blotter = opener.open(request).read().decode()
    return opener, jar, blotter


def test_rundesk_serves_the_desk_and_stops_cleanly_on_ctrl_c(desk_env: dict[str, str]) -> None:
    port, fix_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundesk", "--port", str(port), "--fix-port", str(fix_port)],
        cwd=REPO_ROOT,
        env=desk_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_url(f"{base}/healthz", seconds=60)
        assert time.monotonic() - started < 60
        opener, jar, blotter = _login(base, "trader")
        assert "Desk orders" in blotter
        session = next(c.value for c in jar if c.name == "sessionid")
        csrf = next(c.value for c in jar if c.name == "csrftoken")

        with connect(
            f"ws://127.0.0.1:{port}/ws/desk/",
            additional_headers={"Cookie": f"sessionid={session}"},
            origin=base,
            open_timeout=10,
        ) as ws:
            ping = urllib.request.Request(
                f"{base}/api/v1/ping/",
                data=json.dumps({"message": "from the e2e test"}).encode(),
                headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": f"{base}/"},
            )
            assert opener.open(ping).status == 202
            seen: dict[str, dict] = {}
            deadline = time.monotonic() + 30
            while not {"ping", "heartbeat"} <= seen.keys() and time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=30))
                seen[message["event"]] = message["payload"]
        assert seen["ping"]["message"] == "from the e2e test"
        assert "heartbeat" in seen, "beat's heartbeat task never reached the page"
        _dealers_quote_over_both_transports(opener, base, csrf)
        _a_plan_is_worked_on_validated_prices(opener, base, csrf)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output
    assert "demo logins: trader / demo-trader" in output
    # the URL comes last, once everything runs, and the dealers' polling does not bury it (no access log)
    assert output.index("the desk is ready: open") > output.index("simulated market and dealers started")
    assert '"GET /api/v1/dealer/' not in output
    assert "celery.app.trace" not in output
    assert "Sending due task" not in output
    assert "the desk stopped" in output
    assert "4 over REST, 4 over FIX" in output
    assert "simulated FIX 4.4 venues (acceptors): LIT-A" in output
    assert "the desk's FIX sessions with 3 venues" in output
    leftovers = subprocess.run(["pgrep", "-f", f"rundesk --port {port}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""


def _api(opener: urllib.request.OpenerDirector, base: str, csrf: str, path: str, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": f"{base}/"}
    data = json.dumps(body).encode() if body is not None else None
    # A timeout: a stuck server must fail this test at once, not hang it.
    with opener.open(urllib.request.Request(f"{base}{path}", data=data, headers=headers), timeout=15) as response:
        return json.loads(response.read())


def _dealers_quote_over_both_transports(opener: urllib.request.OpenerDirector, base: str, csrf: str) -> None:
    """The demo dealers, four on FIX and four on REST, answer a trader's RFQ; the best quote is taken and the
    dealer fills it or rejects it on last look."""
    dealers = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL"]
    rfq = _api(
        opener,
        base,
        csrf,
        "/api/v1/rfqs/",
        {"legs": [{"instrument": "BTC-USD", "side": "buy", "quantity": "1"}], "dealers": dealers, "expires_in_s": 60},
    )
    fix_dealers, rest_dealers = set(dealers[:4]), set(dealers[4:])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = _api(opener, base, csrf, f"/api/v1/rfqs/{rfq['reference']}/")
        quoted = {quote["dealer"] for quote in detail["quotes"]}
        if quoted & fix_dealers and quoted & rest_dealers:
            break
        time.sleep(0.3)
    assert quoted & fix_dealers, f"no FIX dealer quoted: {quoted}"
    assert quoted & rest_dealers, f"no REST dealer quoted: {quoted}"
    best = min(detail["quotes"], key=lambda quote: float(quote["legs"][0]["offer_price"]))
    order = _api(opener, base, csrf, f"/api/v1/quotes/{best['id']}/accept/", {})
    assert order["status"] == "sent"
    while time.monotonic() < deadline + 15:
        status = _api(opener, base, csrf, f"/api/v1/rfqs/{rfq['reference']}/")["status"]
        quote_status = next(
            q["status"]
            for q in _api(opener, base, csrf, f"/api/v1/rfqs/{rfq['reference']}/")["quotes"]
            if q["id"] == best["id"]
        )
        if quote_status in ("filled", "last_look_rejected"):
            break
        time.sleep(0.3)
    assert quote_status in ("filled", "last_look_rejected"), (status, quote_status)
    blotter = opener.open(f"{base}/desk/").read().decode()
    rows = [re.sub(r"<[^>]+>", " ", row).split() for row in re.findall(r"<tr data-dealer=.*?</tr>", blotter, re.S)]
    connected = [row[0] for row in rows if "connected" in row]
    assert len(connected) == 8, f"the blotter does not show every dealer connected: {rows}"


def _a_plan_is_worked_on_validated_prices(opener: urllib.request.OpenerDirector, base: str, csrf: str) -> None:
    """A short TWAP plan is worked by the embedded worker to completion: every child passes the pre-trade checks,
    which in the running desk require a price the market-health monitor validated."""
    plan = _api(
        opener,
        base,
        csrf,
        "/api/v1/execution/plans/create/",
        {
            "instrument": "BTC-USD",
            "side": "buy",
            "quantity": "0.02",
            "algorithm": "twap",
            "parameters": {"horizon_s": 4, "slices": 2},
        },
    )
    _api(opener, base, csrf, f"/api/v1/execution/plans/{plan['id']}/start/", {})
    deadline = time.monotonic() + 40
    detail = plan
    while time.monotonic() < deadline:
        detail = _api(opener, base, csrf, f"/api/v1/execution/plans/{plan['id']}/")
        if detail["status"] != "running":
            break
        time.sleep(0.5)
    statuses = [child["status"] for child in detail["child_orders"]]
    assert detail["status"] == "completed", (detail["status"], statuses)
    # Every child that went out to a venue was filled; a re-plan may replace children before they are due (with the
    # venues over FIX the fills come a little after the send, which the re-plan can read as falling behind).
    sent = [child for child in detail["child_orders"] if child["sent_at"] is not None]
    assert sent
    assert [child["status"] for child in sent] == ["filled"] * len(sent), detail["child_orders"]
    unsent = [child for child in detail["child_orders"] if child["sent_at"] is None]
    assert all(child["status"] == "cancelled" and child["reject_reason"].startswith("re-plan") for child in unsent)
