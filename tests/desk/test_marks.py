"""Options marked from the market: the feed's volatility quotes stored, the desk's surface fitted to them on beat and
used for every mark; a fit on too few or crossed quotes refused, the previous surface kept, with an alert."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from desk import clock, marks, tasks
from desk.audit import chain_verify
from desk.marks import (
    VolQuote,
    VolQuotesRefused,
    mark_surface,
    vol_quotes_publish,
    vol_surface_refit,
    vol_surfaces_prune,
)
from desk.models import AuditEvent, VolQuotes, VolSurface
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(marks, "broadcast", lambda **kwargs: sent.append(kwargs))
    return sent


def _publish(quotes: list[VolQuote], *, seconds: float = 0.0, spot: float = 100_000.0) -> None:
    vol_quotes_publish(underlying="BTC", at=clock.now() + timedelta(seconds=seconds), spot=spot, quotes=quotes)


def test_the_desk_fits_its_surface_to_the_feed_and_marks_options_with_it(alerts) -> None:  # noqa: ANN001
    # given no fit yet: options are marked with the reference surface, flagged as such
    assert mark_surface("BTC").source == "reference"

    # when the market publishes its volatility quotes and the desk refits
    _publish(factories.vol_quotes_of())
    row = vol_surface_refit(underlying="BTC")

    # then the stored fit has its time, parameters, quotes and error, and it is the surface options are marked with
    assert row is not None
    assert row.status == "fitted"
    assert row.n_quotes == len(factories.vol_quotes_of()) == 84
    assert row.n_expiries == 7
    assert row.rms_error < 1e-6
    for name, value in factories.SURFACE.as_dict().items():
        assert row.parameters[name] == pytest.approx(value, abs=1e-5), name
    surface = mark_surface("BTC")
    assert (surface.source, surface.surface_id) == ("fitted", row.pk)
    # the first fit is audited and announced
    assert AuditEvent.objects.get(action="vol_surface.fitted").object_id == str(row.pk)
    assert [a["event"] for a in alerts] == ["risk.vol_surface"]
    assert chain_verify().ok


def test_refitting_the_same_quotes_twice_stores_one_fit() -> None:
    _publish(factories.vol_quotes_of())

    first = vol_surface_refit(underlying="BTC")
    second = vol_surface_refit(underlying="BTC")

    assert first is not None
    assert second is None
    assert VolSurface.objects.count() == 1


@pytest.mark.parametrize(
    ("quotes", "reason"),
    [
        (factories.vol_quotes_of(days=(7.0, 30.0)), "too few expiries"),
        (factories.vol_quotes_of()[:8], "too few quotes"),
        (factories.vol_quotes_of(half_spread=-0.002), "crossed quote"),
    ],
    ids=["two expiries", "eight quotes", "crossed"],
)
def test_a_fit_on_too_few_or_crossed_quotes_is_refused_and_the_previous_surface_kept(alerts, quotes, reason) -> None:  # noqa: ANN001
    # given a good surface
    _publish(factories.vol_quotes_of())
    good = vol_surface_refit(underlying="BTC")
    assert good is not None
    alerts.clear()

    # when the feed then publishes quotes the fit must refuse, twice
    _publish(quotes, seconds=1)
    refused = vol_surface_refit(underlying="BTC")
    _publish(quotes, seconds=2)
    again = vol_surface_refit(underlying="BTC")

    # then each refusal is stored with its reason, options are still marked with the good surface
    assert refused is not None
    assert again is not None
    assert (refused.status, again.status) == ("refused", "refused")
    assert reason in refused.reason
    assert refused.parameters == {}
    assert refused.n_quotes == len(quotes)
    assert mark_surface("BTC").surface_id == good.pk
    # and one alert is raised (audited and broadcast to the risk page), not one per refit
    event = AuditEvent.objects.get(action="vol_surface.refused")
    assert event.object_id == str(refused.pk)
    assert reason in event.after["reason"]
    assert event.after["kept"] == good.pk
    assert [(a["event"], a["payload"]["state"], a["payload"]["kept"]) for a in alerts] == [
        ("risk.vol_surface", "refused", good.pk)
    ]

    # when good quotes come back, the desk fits again and says so
    _publish(factories.vol_quotes_of(), seconds=3)
    back = vol_surface_refit(underlying="BTC")
    assert back is not None
    assert back.status == "fitted"
    assert mark_surface("BTC").surface_id == back.pk
    assert AuditEvent.objects.filter(action="vol_surface.fitted").count() == 2
    assert chain_verify().ok


def test_before_any_good_fit_a_refusal_keeps_the_reference_surface(alerts) -> None:  # noqa: ANN001
    _publish(factories.vol_quotes_of(half_spread=-0.002))

    refused = vol_surface_refit(underlying="BTC")

    assert refused is not None
    assert refused.status == "refused"
    assert mark_surface("BTC").source == "reference"
    assert AuditEvent.objects.get(action="vol_surface.refused").after["kept"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"at": "naive"}, "at"),
        ({"spot": 0.0}, "spot"),
        ({"spot": float("nan")}, "spot"),
        ({"quote": {"strike": -5.0}}, "quotes[0].strike"),
        ({"quote": {"bid_vol": float("inf")}}, "quotes[0].bid_vol"),
        ({"quote": {"ask_vol": "high"}}, "quotes[0].ask_vol"),
        ({"quote": {"expiry": "past"}}, "quotes[0].expiry"),
        ({"underlying": ""}, "underlying"),
    ],
)
def test_a_bad_publication_is_refused_naming_the_field_and_nothing_is_stored(change: dict, field: str) -> None:
    at = clock.now()
    quotes = factories.vol_quotes_of(at=at)
    first = quotes[0]
    fields = {"expiry": first.expiry, "strike": first.strike, "bid_vol": first.bid_vol, "ask_vol": first.ask_vol}
    fields |= change.get("quote", {})
    if fields["expiry"] == "past":
        fields["expiry"] = at - timedelta(days=1)
    quotes[0] = VolQuote(**fields)
    kwargs: dict[str, Any] = {"underlying": "BTC", "at": at, "spot": 100_000.0, "quotes": quotes}
    kwargs |= {k: v for k, v in change.items() if k != "quote"}
    if kwargs["at"] == "naive":
        kwargs["at"] = at.replace(tzinfo=None)

    with pytest.raises(VolQuotesRefused, match=field.replace("[", r"\[").replace("]", r"\]")):
        vol_quotes_publish(**kwargs)

    assert not VolQuotes.objects.exists()


def test_quotes_older_than_the_stored_ones_are_refused() -> None:
    _publish(factories.vol_quotes_of(), seconds=5)

    with pytest.raises(VolQuotesRefused, match="older than the stored"):
        _publish(factories.vol_quotes_of())

    assert VolQuotes.objects.get().version == 1


def test_old_fits_are_pruned_but_the_surface_in_use_is_kept() -> None:
    _publish(factories.vol_quotes_of())
    kept = vol_surface_refit(underlying="BTC")
    _publish(factories.vol_quotes_of(half_spread=-0.002), seconds=1)
    old_refusal = vol_surface_refit(underlying="BTC")
    assert kept is not None
    assert old_refusal is not None

    deleted = vol_surfaces_prune(underlying="BTC", before=clock.now() + timedelta(days=1))

    assert deleted == 1
    assert list(VolSurface.objects.values_list("pk", flat=True)) == [kept.pk]


def test_beat_refits_every_published_underlying() -> None:
    _publish(factories.vol_quotes_of())
    vol_quotes_publish(
        underlying="ETH", at=clock.now(), spot=3_500.0, quotes=factories.vol_quotes_of(underlying="ETH", spot=3_500.0)
    )

    done = tasks.vol_surfaces_refit()

    assert done == {"BTC": "fitted", "ETH": "fitted"}
    assert tasks.vol_surfaces_refit() == {"BTC": "unchanged", "ETH": "unchanged"}
    assert settings.CELERY_BEAT_SCHEDULE["desk-vol-surfaces-refit"]["task"] == tasks.vol_surfaces_refit.name
    assert VolQuotes.objects.get(underlying="ETH").spot == Decimal(3_500)
