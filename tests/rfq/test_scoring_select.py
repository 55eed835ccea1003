"""Dealer selection and cold start: pure functions on dealer estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfq.scoring.cold_start import beta_parameters, thompson_draw, ucb_bonus
from rfq.scoring.explain import dealer_explanations, score_contributions
from rfq.scoring.scores import SCORE_PARTS, cost_parts
from rfq.scoring.select import SelectionPolicy, dealers_select

WEIGHTS = {
    "fill_base_bps": 0.0,
    "price": 1.0,
    "wait_s": 0.0,
    "noise": 0.4,
    "leak": 1.0,
    "silent_bps": 20.0,
    "decline_bps": 0.0,
    "reject_bps": 20.0,
}
"""Cost weights of these hand-made estimates (a trained artifact learns its own)."""


def estimates(**overrides: dict[str, float]) -> pd.DataFrame:
    """Eight seasoned dealers D0..D7, from cheap to dear, each with 1,000 requests; ``overrides`` per dealer."""
    rows = []
    for i in range(8):
        row = {
            "dealer": f"D{i}",
            "known": True,
            "requests": 1000.0,
            "answers": 900.0,
            "wins": 200.0,
            "fills": 196.0,
            "p_answer": 0.9,
            "p_respond": 0.95,
            "p_fill": 0.98,
            "price_bps": 4.0 + i,
            "noise_bps": 3.0,
            "leak_bps": 0.0,
        }
        row.update(overrides.get(row["dealer"], {}))
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["leak_estimate_bps"] = frame["leak_bps"]
    frame["response_s"] = 1.0
    return cost_parts(frame, WEIGHTS)


def active(frame: pd.DataFrame) -> dict[str, str]:
    return dict.fromkeys(frame["dealer"], "active")


def test_selection_never_exceeds_the_cap_and_explains_every_dealer() -> None:
    frame = estimates()

    selection = dealers_select(
        frame, statuses=active(frame), policy=SelectionPolicy(max_dealers=3, leakage_per_dealer_bps=0.0)
    )

    assert len(selection.dealers) == 3
    assert selection.dealers[0] == "D0"
    assert {row["dealer"] for row in selection.rows} == set(frame["dealer"])
    capped = [row for row in selection.rows if not row["chosen"]]
    assert all("cap of 3" in row["reason"] for row in capped)
    assert all(row["contributions"] for row in selection.rows)


def test_suspended_dealers_are_never_selected() -> None:
    frame = estimates()
    statuses = active(frame) | {"D0": "suspended", "D1": "disabled"}

    selection = dealers_select(frame, statuses=statuses, policy=SelectionPolicy(max_dealers=5))

    assert "D0" not in selection.dealers
    assert "D1" not in selection.dealers
    assert next(row for row in selection.rows if row["dealer"] == "D0")["reason"] == "excluded: suspended"


def test_leakage_cost_shrinks_the_panel_and_skips_the_leaky_dealer() -> None:
    frame = estimates(D1={"leak_bps": 8.0})

    cheap_leak = dealers_select(frame, statuses=active(frame), policy=SelectionPolicy(leakage_per_dealer_bps=0.0))
    dear_leak = dealers_select(frame, statuses=active(frame), policy=SelectionPolicy(leakage_per_dealer_bps=2.0))

    assert len(dear_leak.dealers) < len(cheap_leak.dealers)
    assert "D1" not in cheap_leak.dealers
    assert "D1" not in dear_leak.dealers


def test_the_panel_widens_when_dealers_often_fail_to_answer() -> None:
    reliable = estimates()
    flaky = estimates(**{f"D{i}": {"p_answer": 0.4} for i in range(8)})
    policy = SelectionPolicy(leakage_per_dealer_bps=0.5)

    assert len(dealers_select(flaky, statuses=active(flaky), policy=policy).dealers) > len(
        dealers_select(reliable, statuses=active(reliable), policy=policy).dealers
    )


def test_a_new_dealer_is_selected_within_k_rfqs_when_exploring() -> None:
    # Given seasoned dealers and a newcomer with no history, estimated at the desk's average
    frame = estimates(
        D7={"dealer": "NEW", "requests": 0.0, "answers": 0.0, "wins": 0.0, "fills": 0.0, "price_bps": 6.0}
    )
    rng = np.random.default_rng(5)
    policy = SelectionPolicy(max_dealers=2, explore=True)

    # When the desk selects with Thompson sampling for K = 20 RFQs
    picks = [dealers_select(frame, statuses=active(frame), policy=policy, rng=rng).dealers for _ in range(20)]

    # Then the newcomer is asked, but not every time, and a seasoned dear dealer never
    asked = sum("NEW" in chosen for chosen in picks)
    assert 1 <= asked < 20
    assert not any("D6" in chosen for chosen in picks)


def test_without_exploration_an_unknown_average_dealer_is_not_asked() -> None:
    frame = estimates(D7={"dealer": "NEW", "requests": 0.0, "answers": 0.0, "wins": 0.0, "price_bps": 6.0})

    selection = dealers_select(frame, statuses=active(frame), policy=SelectionPolicy(max_dealers=2))

    assert selection.dealers == ["D0", "D1"]


def test_thompson_draws_narrow_with_observations() -> None:
    frame = estimates(D7={"requests": 0.0, "answers": 0.0, "wins": 0.0})
    rng = np.random.default_rng(1)

    draws = pd.concat([thompson_draw(frame, rng) for _ in range(300)])
    spread = draws.groupby("dealer")["p_answer"].std()

    assert spread["D7"] > 5 * spread["D0"]


def test_beta_parameters_keep_the_mean_and_add_the_prior_weight() -> None:
    a, b = beta_parameters(np.array([0.8]), np.array([10.0]), strength=4.0)

    assert a[0] / (a[0] + b[0]) == pytest.approx(0.8)
    assert a[0] + b[0] == pytest.approx(14.0)
    assert ucb_bonus(np.array([0.0, 100.0]), 100.0)[0] > ucb_bonus(np.array([0.0, 100.0]), 100.0)[1]


def test_contributions_sum_to_the_score_minus_the_average() -> None:
    frame = estimates(D3={"leak_bps": 5.0, "p_respond": 0.7})

    contributions = score_contributions(frame, top=len(SCORE_PARTS))
    explained = dealer_explanations(frame)

    for _, row in frame.iterrows():
        total = sum(c["contribution_bps"] for c in contributions[row["dealer"]])
        assert total == pytest.approx(row["score_bps"] - frame["score_bps"].mean(), abs=1e-2)
    d3 = next(row for row in explained if row["dealer"] == "D3")
    assert {c["feature"] for c in d3["contributions"]} >= {"leak_bps", "no_answer_bps"}
