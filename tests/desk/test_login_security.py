"""Login throttling (django-axes) and the Content-Security-Policy (django-csp): after five failed logins for one
username from one address the right password is refused too, with a clear message on the login page, until the
cool-off has passed; every page is sent with a policy that allows only the desk's own scripts and styles and its
websockets, and the pages carry no inline script or style for it to block."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.db.models import F
from django.test import AsyncClient, Client

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db

LOGIN = "/desk/login/"
RIGHT = {"username": "trader-t", "password": "pw-for-tests-123"}
WRONG = {"username": "trader-t", "password": "not-the-password"}


def test_five_failed_logins_lock_the_login_out_even_with_the_right_password(client: Client, trader) -> None:  # noqa: ANN001
    # given four failed attempts: each is the ordinary wrong-password page
    for _ in range(4):
        assert client.post(LOGIN, WRONG).status_code == 200

    # when the fifth fails, and then the right password is tried
    fifth = client.post(LOGIN, WRONG)
    right = client.post(LOGIN, RIGHT)

    # then both are answered 429 with the lockout message, the username kept, and no session is opened
    for response in (fifth, right):
        page = response.content.decode()
        assert response.status_code == 429
        assert "Too many failed logins: this login is locked, try again in 15 minutes" in page
        assert 'value="trader-t"' in page
    assert "_auth_user_id" not in client.session
    assert client.get("/desk/").status_code == 302  # still sent to the login page


def test_the_lockout_ends_after_the_cool_off(client: Client, trader) -> None:  # noqa: ANN001
    for _ in range(5):
        client.post(LOGIN, WRONG)
    assert client.post(LOGIN, RIGHT).status_code == 429

    # when the failures are older than the 15 minutes' cool-off
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))

    # then the right password logs in again
    response = client.post(LOGIN, RIGHT)
    assert response.status_code == 302
    assert response["Location"] == "/desk/"


def test_the_lock_is_per_username_and_a_success_clears_the_count(client: Client, trader, risk_officer) -> None:  # noqa: ANN001
    # given four failures then a success for the trader: the count starts again
    for _ in range(4):
        client.post(LOGIN, WRONG)
    assert client.post(LOGIN, RIGHT).status_code == 302
    client.logout()
    for _ in range(4):
        assert client.post(LOGIN, WRONG).status_code == 200

    # and a locked-out trader does not lock the risk officer out from the same address
    for _ in range(2):
        client.post(LOGIN, WRONG)
    assert client.post(LOGIN, RIGHT).status_code == 429
    other = client.post(LOGIN, {"username": "risk-t", "password": "pw-for-tests-123"})
    assert other.status_code == 302


@pytest.mark.parametrize("path", ["/desk/login/", "/desk/", "/desk/risk/", "/desk/tca/", "/desk/execution/"])
def test_every_page_is_sent_with_the_content_security_policy(client_for, risk_officer, path) -> None:  # noqa: ANN001
    response = client_for(risk_officer).get(path)

    assert response.status_code == 200
    policy = dict(
        directive.strip().split(" ", 1) for directive in response["Content-Security-Policy"].split(";") if directive
    )
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws: wss:"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_no_template_carries_an_inline_script_style_or_handler_the_policy_would_block() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
    blocked = re.compile(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)
    found = []
    for template in sorted((Path(REPO_ROOT) / "templates").rglob("*.html")):
        text = template.read_text()
        found += [
            f"{template.name}: {m.group(0)}" for pattern in (inline_script, blocked) for m in pattern.finditer(text)
        ]

    assert found == []


@pytest.mark.django_db(transaction=True)
def test_the_lockout_page_is_the_same_through_the_asgi_handler(trader) -> None:  # noqa: ANN001
    # the desk serves over ASGI, where axes' middleware takes its async path
    post = async_to_sync(AsyncClient().post)
    for _ in range(5):
        post(LOGIN, WRONG)

    response = post(LOGIN, RIGHT)

    assert response.status_code == 429
    assert "Too many failed logins: this login is locked" in response.content.decode()
