"""Dealer scorecards and model governance pages: scores and explanations from the live model, observed rates and
markouts against hand-computed figures, promote and roll back for risk officers only (refused on the server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from desk.models import AuditEvent
from desk.pages import queries
from rfq.models import ScoringModelStatus, ScoringModelVersion
from rfq.scoring.models import Hyperparameters
from rfq.scoring.scores import Context, dealer_estimates
from rfq.scoring.services import scoring_model_promote, scoring_model_train
from tests import factories

pytestmark = pytest.mark.django_db

# The challenger measures a failure's cost after a slower fallback and shrinks prices harder: its scores differ.
CHALLENGER_HP = Hyperparameters(fallback_delay_s=30.0, price_ridge=50.0)
RELAXED = factories.RELAXED_THRESHOLDS


@pytest.fixture
def two_versions(db):  # noqa: ANN001, ANN201
    world, result = factories.scoring_history_book(seed=5, n_rfqs=60)
    first = scoring_model_train(actor=world.trader, mids=result.mids, thresholds=RELAXED)
    second = scoring_model_train(
        actor=world.trader, mids=result.mids, thresholds=RELAXED, owner="quant-2", hp=CHALLENGER_HP
    )
    assert (first.status, second.status) == (ScoringModelStatus.VALIDATED, ScoringModelStatus.VALIDATED)
    return first, second


def _status(version: ScoringModelVersion) -> str:
    return ScoringModelVersion.objects.values_list("status", flat=True).get(pk=version.pk)


# --- roles ---------------------------------------------------------------------------------------------------


def test_dealer_sees_neither_page_and_anonymous_goes_to_login(client, client_for, dealer) -> None:  # noqa: ANN001
    dealer_client = client_for(dealer.user)
    for url in ["/desk/dealers/", "/desk/models/"]:
        assert dealer_client.get(url).status_code == 403, url
        assert client.get(url)["Location"].startswith("/desk/login/")
    assert dealer_client.post("/desk/models/1/promote/").status_code == 403
    assert dealer_client.post("/desk/models/rollback/").status_code == 403


def test_desk_roles_read_both_pages(client_for, trader, compliance, risk_officer) -> None:  # noqa: ANN001
    for user in (trader, compliance, risk_officer):
        client = client_for(user)
        assert client.get("/desk/dealers/").status_code == 200, user.username
        assert client.get("/desk/models/").status_code == 200, user.username


def test_only_a_risk_officer_promotes_and_rolls_back(  # noqa: ANN001
    client_for, two_versions, trader, compliance, risk_officer
) -> None:
    first, second = two_versions

    # traders and compliance see no button and are refused by the server
    for user in (trader, compliance):
        client = client_for(user)
        page = client.get("/desk/models/").content.decode()
        assert 'class="promote"' not in page
        assert "risk officers only" in page
        assert client.post(f"/desk/models/{first.version}/promote/").status_code == 403
        assert client.post("/desk/models/rollback/").status_code == 403
    assert _status(first) == ScoringModelStatus.VALIDATED
    assert not AuditEvent.objects.filter(action__startswith="scoring_model.promote").exists()

    # the risk officer: nothing to roll back to yet, said so
    client = client_for(risk_officer)
    nothing_to_roll_back = client.post("/desk/models/rollback/")
    assert nothing_to_roll_back.status_code == 400
    assert "no earlier live version" in nothing_to_roll_back.content.decode()

    # then promotes one, then the other, then rolls back to the first
    assert 'class="promote"' in client.get("/desk/models/").content.decode()
    assert client.post(f"/desk/models/{first.version}/promote/")["Location"] == "/desk/models/"
    assert client.post(f"/desk/models/{second.version}/promote/").status_code == 302
    assert (_status(first), _status(second)) == (ScoringModelStatus.RETIRED, ScoringModelStatus.LIVE)
    page = client.get("/desk/models/").content.decode()
    assert f"Roll back to version {first.version}" in page
    assert client.post("/desk/models/rollback/", {"to": str(first.version)}).status_code == 302
    assert (_status(first), _status(second)) == (ScoringModelStatus.LIVE, ScoringModelStatus.RETIRED)
    actions = list(
        AuditEvent.objects.filter(action__startswith="scoring_model.").order_by("id").values_list("action", flat=True)
    )
    assert actions[-3:] == ["scoring_model.promote", "scoring_model.promote", "scoring_model.rollback"]

    # refusals say why and change nothing
    again = client.post(f"/desk/models/{first.version}/promote/")
    assert again.status_code == 400
    assert "only a validated version can be promoted" in again.content.decode()
    bad_to = client.post("/desk/models/rollback/", {"to": "v1"})
    assert bad_to.status_code == 400
    assert "to: &#x27;v1&#x27; is not a version number" in bad_to.content.decode()
    assert client.post("/desk/models/999/promote/").status_code == 404
    assert (_status(first), _status(second)) == (ScoringModelStatus.LIVE, ScoringModelStatus.RETIRED)


# --- what the pages show -----------------------------------------------------------------------------------------


def test_the_live_model_drives_the_scorecards_and_faces_the_challenger(  # noqa: ANN001
    client_for, two_versions, risk_officer, trader
) -> None:
    first, second = two_versions
    scoring_model_promote(version=first, actor=risk_officer)

    # the models page: challenger against live, metrics and scores side by side
    response = client_for(trader).get("/desk/models/")

    comparison = response.context["comparison"]
    assert response.context["challenger"].pk == second.pk
    live_auc = next(r for r in comparison["metrics"] if r["label"] == "answer AUC")
    assert live_auc["live"] == pytest.approx(first.metrics["answer"]["auc"])
    assert live_auc["challenger"] == pytest.approx(second.metrics["answer"]["auc"])
    dealers = sorted(first.artifact["table"]["dealers"])
    expected = dealer_estimates(second.artifact, dealers, Context()).set_index("dealer")["score_bps"]
    by_dealer = {row["dealer"]: row for row in comparison["scores"]}
    assert set(by_dealer) == set(dealers)
    for code in dealers:
        assert by_dealer[code]["challenger"] == pytest.approx(float(expected[code]))
        assert by_dealer[code]["delta"] == pytest.approx(by_dealer[code]["challenger"] - by_dealer[code]["live"])
    assert any(abs(row["delta"]) > 0.01 for row in comparison["scores"])

    # the scorecards: the live model's scores and contributions
    response = client_for(trader).get("/desk/dealers/?kind=spot&notional=250000")

    assert response.status_code == 200
    cards = {c["dealer"]: c for c in response.context["cards"] if c["score"]}
    assert cards
    codes = sorted(cards)
    estimates = dealer_estimates(first.artifact, codes, Context(kind="spot", notional=250_000.0)).set_index("dealer")
    parts = estimates[["fill_cost_bps", "adverse_noise_bps", "leak_bps", "no_answer_bps", "last_look_bps"]]
    for code in codes:
        score = cards[code]["score"]
        assert score["score_bps"] == pytest.approx(float(estimates.loc[code, "score_bps"]), abs=1e-3)
        # each contribution is minus the part's deviation from the dealers' average
        for c in score["contributions"]:
            expected = -(parts.loc[code, c["feature"]] - parts[c["feature"]].mean())
            assert c["contribution_bps"] == pytest.approx(expected, abs=1e-3)
    text = response.content.decode()
    assert f"version {first.version}</a>" in text


def test_scorecard_form_names_the_wrong_field(client_for, trader) -> None:  # noqa: ANN001
    response = client_for(trader).get("/desk/dealers/?notional=12")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Notional: Ensure this value is greater than or equal to 1000" in text
    assert 'value="12"' in text


def test_observed_rates_from_the_desks_own_rfqs(client_for, trader, dealer, other_dealer, instrument) -> None:  # noqa: ANN001
    for _ in range(3):
        rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer])
        factories.quote_create(rfq=rfq, dealer=dealer)

    response = client_for(trader).get("/desk/dealers/")

    cards = {c["dealer"]: c for c in response.context["cards"]}
    assert cards[dealer.code]["observed"]["requests"] == 3
    assert cards[dealer.code]["observed"]["answer_rate"] == pytest.approx(1.0)
    assert cards[other_dealer.code]["observed"]["answer_rate"] == pytest.approx(0.0)
    assert cards[dealer.code]["score"] is None
    assert "No live scoring model yet" in response.content.decode()


def _history(rows: list[dict]) -> pd.DataFrame:
    base = {
        "kind": "spot",
        "multiplier": 1.0,
        "quantity": 1.0,
        "declined": False,
        "quoted_at": pd.NaT,
        "bid": np.nan,
        "offer": np.nan,
        "accepted_at": pd.NaT,
        "order_status": "",
        "instrument": "BTC-USD",
        "side": 1,
    }
    frame = pd.DataFrame([base | row for row in rows])
    for column in ("sent_at", "quoted_at", "accepted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_rates_and_markouts_match_a_hand_computation() -> None:
    # given three RFQs: A fills a buy at 101 with the consensus mid at 100, the mid then 102, then 98
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
    history = _history(
        [
            {"request_id": 1, "rfq_id": 1, "sent_at": t0, "dealer": "A", "bid": 99.0, "offer": 101.0,
             "accepted_at": t0 + timedelta(seconds=0.5), "order_status": "filled"},
            {"request_id": 2, "rfq_id": 1, "sent_at": t0, "dealer": "B"},
            {"request_id": 3, "rfq_id": 2, "sent_at": t0 + timedelta(seconds=5), "dealer": "B", "bid": 101.0,
             "offer": 103.0, "accepted_at": t0 + timedelta(seconds=6), "order_status": "rejected"},
            {"request_id": 4, "rfq_id": 3, "sent_at": t0 + timedelta(seconds=400), "dealer": "A", "bid": 97.0,
             "offer": 99.0},
        ]
    )  # fmt: skip

    observed = queries.dealer_observed(history)
    curves = queries.dealer_markout_curves(history)

    assert observed["A"] == {
        "requests": 2, "quoted": 2, "answer_rate": 1.0, "accepted": 1, "filled": 1, "fill_rate": 1.0,
    }  # fmt: skip
    assert observed["B"]["answer_rate"] == pytest.approx(0.5)
    assert observed["B"]["fill_rate"] == pytest.approx(0.0)
    # 1 s: mid still 100 -> 0; 10 s, 60 s, 300 s: mid 102, a buy gained: (100 - 102) / 100 = -200 bps
    assert curves["A"] == pytest.approx([0.0, -200.0, -200.0, -200.0])
    assert "B" not in curves
