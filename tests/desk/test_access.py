"""Bad input and access control at the edges: routes, pages, API roles, dealer scoping."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db


def test_unknown_route_is_404(client: Client) -> None:
    assert client.get("/no/such/page/").status_code == 404


def test_page_without_login_redirects_to_login(client: Client) -> None:
    response = client.get("/desk/")

    assert response.status_code == 302
    assert response["Location"].startswith("/desk/login/?next=/desk/")


def test_login_page_logs_a_trader_into_the_blotter(client: Client, trader) -> None:  # noqa: ANN001
    page = client.get("/desk/login/")
    response = client.post("/desk/login/", {"username": "trader-t", "password": "pw-for-tests-123"}, follow=True)

    assert page.status_code == 200
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/desk/"
    assert b"Desk orders" in response.content


def test_wrong_password_names_the_problem_and_keeps_the_username(client: Client, trader) -> None:  # noqa: ANN001
    response = client.post("/desk/login/", {"username": "trader-t", "password": "wrong"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="trader-t"' in response.content


def test_blotter_shows_desk_orders(client_for, trader, instrument, account) -> None:  # noqa: ANN001
    factories.desk_order_create(trader=trader, instrument=instrument, account=account, quantity="7.5")

    response = client_for(trader).get("/desk/")

    assert response.status_code == 200
    assert b"ACC-SECRET-CLIENT" in response.content
    assert b"7.5" in response.content


def test_dealer_never_sees_a_desk_page(client_for, dealer) -> None:  # noqa: ANN001
    assert client_for(dealer.user).get("/desk/").status_code == 403


def test_api_without_credentials_is_401_with_a_challenge(client: Client) -> None:
    response = client.get("/api/v1/orders/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("DealerKey")


def test_api_with_the_wrong_role_is_403(dealer) -> None:  # noqa: ANN001
    response = Client().get("/api/v1/orders/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123")

    assert response.status_code == 403


def test_api_with_bad_dealer_secret_is_401(dealer) -> None:  # noqa: ANN001
    response = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:guess")

    assert response.status_code == 401


def test_trader_lists_desk_orders(client_for, trader, instrument, account) -> None:  # noqa: ANN001
    factories.desk_order_create(trader=trader, instrument=instrument, account=account)

    response = client_for(trader).get("/api/v1/orders/")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["results"][0]["account"] == "ACC-SECRET-CLIENT"


def test_dealer_sees_only_its_own_rfqs_and_never_the_client(  # noqa: PLR0913
    dealer,
    other_dealer,
    trader,
    instrument,
    account,  # noqa: ANN001
) -> None:
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account)
    mine = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], orders=[order])
    factories.rfq_create(trader=trader, instrument=instrument, dealers=[other_dealer], orders=[order])

    response = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123")

    assert response.status_code == 200
    body = response.json()
    assert [r["reference"] for r in body["results"]] == [mine.reference]
    assert body["results"][0]["legs"][0]["instrument"] == "BTC-USD"
    text = response.content.decode()
    assert "ACC-SECRET-CLIENT" not in text
    assert "trader-t" not in text
    assert "BRAVO" not in text


def test_suspended_dealer_is_refused(dealer) -> None:  # noqa: ANN001
    dealer.status = "suspended"
    dealer.save(update_fields=["status"])

    response = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123")

    assert response.status_code == 401
    assert "suspended" in response.json()["detail"]


def test_ping_body_without_message_is_400_naming_the_field(client_for, trader) -> None:  # noqa: ANN001
    response = client_for(trader).post("/api/v1/ping/", {}, content_type="application/json")

    assert response.status_code == 400
    assert "message" in response.json()


def test_openapi_schema_is_served(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/dealer/rfqs/" in response.json()["paths"]


def test_rotated_dealer_secret_is_refused_even_after_a_cached_success(dealer) -> None:  # noqa: ANN001
    assert (
        Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123").status_code
        == 200
    )

    dealer.set_api_secret("rotated-secret-456")
    dealer.save(update_fields=["api_secret_hash"])

    old = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123")
    new = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:rotated-secret-456")
    assert old.status_code == 401
    assert new.status_code == 200
