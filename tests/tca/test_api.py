"""``GET /api/v1/tca/pretrade/``: the pre-trade estimate against the venues' books, desk roles only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import include, path

from desk.market import venue_books_ensure
from desk.models import InstrumentKind
from desk.roles import Role
from desk.urls import urlpatterns as desk_urlpatterns
from tca import services as tca_services
from tests import factories
from tests.tca import factories as tca_factories

# The desk's URLs plus the TCA API where desk/urls.py will include it (``path("tca/", include("tca.urls"))``).
urlpatterns = [path("api/v1/tca/", include("tca.urls")), *desk_urlpatterns]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

URL = "/api/v1/tca/pretrade/"


@pytest.fixture
def btc_books(instrument):  # noqa: ANN001, ANN201
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return instrument


def test_trader_gets_an_estimate_with_its_parts_and_band(client_for, trader, btc_books) -> None:  # noqa: ANN001
    # when a trader asks for 10 BTC
    response = client_for(trader).get(URL, {"instrument": "BTC-USD", "side": "buy", "quantity": "10"})

    # then the estimate holds both models, the three paths and a recommendation
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["instrument"] == "BTC-USD"
    assert body["coins"] == 10.0
    assert body["market"]["mid"] > 0
    assert body["sqrt_law"]["band"]["low_bps"] < body["sqrt_law"]["cost_bps"] < body["sqrt_law"]["band"]["high_bps"]
    assert sum(body["sqrt_law"]["parts"].values()) == pytest.approx(body["sqrt_law"]["cost_bps"])
    assert body["almgren_chriss"]["horizon_s"] > 0
    assert [p["name"] for p in body["paths"]] == ["rfq", "algo", "split"]
    for p in body["paths"]:
        assert sum(p["parts"].values()) == pytest.approx(p["expected_bps"])
    assert body["recommended"] in {"rfq", "algo", "split"}
    # and, with no fills to learn from, the defaults, flagged
    assert body["calibration"]["impact"]["is_default"] is True
    assert body["calibration"]["dealer"]["is_default"] is True
    assert body["calibration"]["permanent"]["is_default"] is True


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"instrument": "BTC-USD", "side": "buy", "quantity": "0"}, "quantity"),
        ({"instrument": "BTC-USD", "side": "buy", "quantity": "lots"}, "quantity"),
        ({"instrument": "BTC-USD", "side": "up", "quantity": "1"}, "side"),
        ({"instrument": "NOPE", "side": "buy", "quantity": "1"}, "instrument"),
        ({"side": "buy", "quantity": "1"}, "instrument"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, trader, btc_books, params, field) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL, params)

    assert response.status_code == 400
    assert field in response.json()


def test_an_underlying_without_a_book_is_a_400_on_the_instrument(client_for, trader) -> None:  # noqa: ANN001
    factories.instrument_create(symbol="SOL-USD", base_currency="SOL")

    response = client_for(trader).get(URL, {"instrument": "SOL-USD", "side": "sell", "quantity": "1"})

    assert response.status_code == 400
    assert "no venue book for SOL" in response.json()["instrument"][0]


def test_options_are_not_estimated(client_for, trader, btc_books) -> None:  # noqa: ANN001
    option = factories.instrument_create(
        symbol="BTC-C",
        kind=InstrumentKind.OPTION,
        underlying=btc_books,
        strike="100000",
        expiry=datetime(2027, 1, 1, tzinfo=UTC),
        option_type="call",
    )

    response = client_for(trader).get(URL, {"instrument": option.symbol, "side": "buy", "quantity": "1"})

    assert response.status_code == 400
    assert "instrument" in response.json()


@pytest.mark.parametrize("role", [Role.RISK_OFFICER, Role.COMPLIANCE])
def test_other_desk_roles_may_ask(client_for, btc_books, role) -> None:  # noqa: ANN001
    user = factories.user_create(role=role)

    response = client_for(user).get(URL, {"instrument": "BTC-USD", "side": "sell", "quantity": "1"})

    assert response.status_code == 200


def test_dealers_and_strangers_may_not(client, client_for, btc_books) -> None:  # noqa: ANN001
    dealer_user = factories.user_create(role=Role.DEALER)
    params = {"instrument": "BTC-USD", "side": "buy", "quantity": "1"}

    assert client_for(dealer_user).get(URL, params).status_code == 403
    assert client.get(URL, params).status_code in (401, 403)


def test_the_estimate_learns_from_the_desks_own_algorithm_fills(client_for, trader, btc_books) -> None:  # noqa: ANN001
    # given 24 algorithm orders of 1 to 24 BTC, each filled above its arrival price
    for size in range(1, 25):
        plan = tca_factories.plan_create(trader=trader, instrument=btc_books, quantity=str(size), limits=("100.00",))
        tca_factories.algo_fill_create(plan=plan, seq=1, quantity=str(size), price=str(100 + 0.01 * size**0.5))

    # when the calibration is refitted (as the hourly beat task does) and a trader asks for an estimate
    tca_services.calibration_refit()
    body = client_for(trader).get(URL, {"instrument": "BTC-USD", "side": "buy", "quantity": "10"}).json()

    # then the square-root coefficient is the stored fit on those 24 orders, with its window and error
    impact = body["calibration"]["impact"]
    assert impact["is_default"] is False
    assert impact["n"] == 24
    assert impact["coefficient"] > 0
    assert impact["window_start"] <= impact["window_end"]
    assert body["sqrt_law"]["coefficient"] == pytest.approx(impact["coefficient"])
    # and the dealers, with no dealer fill, keep their defaults
    assert body["calibration"]["dealer"]["is_default"] is True
