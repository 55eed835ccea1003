"""Stress replays (sim.stress) and the ``stress`` command: the safeguards halt the desk before the daily limit."""

from __future__ import annotations

import json
import math
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from risk.checks import MAX_DAILY_LOSS, MAX_POSITION, VALIDATED_PRICE
from sim.stress import StressConfig, StressResult, stress_run

SEED = 7
PRINTED_KEYS = {
    "scenario",
    "loss",
    "daily_loss_limit",
    "max_loss_seen",
    "halted",
    "seconds_to_halt",
    "orders_after_halt",
    "breaches",
}


@pytest.fixture(scope="module")
def guarded() -> StressResult:
    return stress_run("vol-spike", seed=SEED)


@pytest.fixture(scope="module")
def unguarded() -> StressResult:
    return stress_run("vol-spike", seed=SEED, safeguards=False)


def _loss_from_orders(result: StressResult) -> float:
    """Independent mark: a buy-only book that started flat loses what it paid minus what it holds is worth."""
    paid = sum(quantity * price for _, quantity, price in result.orders)
    held = sum(quantity for _, quantity, _ in result.orders)
    return paid - held * result.final_mid


@pytest.mark.parametrize("seed", [2, SEED])
def test_vol_spike_with_safeguards_halts_before_the_daily_limit(seed: int) -> None:
    # given the vol-spike replay with the safeguards on (seed 2 halts on the shrinking position limit, seed 7 on
    # the plan's participation)
    guarded = stress_run("vol-spike", seed=seed)
    # then the desk halted, at a loss still below the daily limit, and sent nothing afterwards
    assert guarded.halted
    assert guarded.seconds_to_halt is not None
    assert guarded.loss_at_halt is not None
    assert guarded.loss_at_halt < guarded.daily_loss_limit
    assert guarded.orders_after_halt == 0
    assert guarded.orders
    assert all(at_s < guarded.seconds_to_halt for at_s, _, _ in guarded.orders)
    # and the loss never went past the limit (the position stopped growing in time)
    assert guarded.max_loss_seen < guarded.daily_loss_limit
    assert MAX_DAILY_LOSS not in {breach["limit"] for breach in guarded.breaches}


def test_vol_spike_without_safeguards_shows_the_larger_loss(guarded: StressResult, unguarded: StressResult) -> None:
    # when the same replay runs with the checks in shadow
    # then it never halts, keeps buying into the sell-off and loses more, beyond the daily limit
    assert not unguarded.halted
    assert unguarded.seconds_to_halt is None
    assert len(unguarded.orders) > len(guarded.orders)
    assert unguarded.loss > guarded.loss
    assert unguarded.max_loss_seen > unguarded.daily_loss_limit > guarded.max_loss_seen
    breached = {breach["limit"]: breach for breach in unguarded.breaches}
    assert breached[MAX_DAILY_LOSS]["worst_observed"] == pytest.approx(unguarded.max_loss_seen, abs=0.01)
    # the position limit the guarded run halted on was breached, and let through, without safeguards
    assert breached[MAX_POSITION]["count"] >= 1
    assert breached[MAX_POSITION]["worst_observed"] > breached[MAX_POSITION]["threshold"]


def test_the_two_runs_share_the_market_until_the_halt(guarded: StressResult, unguarded: StressResult) -> None:
    # same seed, same orders: the replays differ only by what the safeguards stopped
    before = [order for order in unguarded.orders if order[0] < guarded.seconds_to_halt]
    assert before == list(guarded.orders)


@pytest.mark.parametrize("safeguards", [True, False])
def test_loss_is_the_mark_to_market_of_the_orders(safeguards: bool) -> None:
    result = stress_run("vol-spike", seed=3, safeguards=safeguards)
    assert result.loss == pytest.approx(_loss_from_orders(result), abs=0.01)
    assert result.max_loss_seen >= result.loss


def test_stale_feed_trips_the_circuit_breaker_and_no_order_leaves_unvalidated() -> None:
    # given both feeds stop updating: the monitor has no validated price
    guarded = stress_run("stale-feed", seed=SEED)
    unguarded = stress_run("stale-feed", seed=SEED, safeguards=False)
    # then the breaker halts the desk within the monitor's staleness threshold (5 s, seen at the next 10 s step)
    assert guarded.halted
    assert guarded.halt_reason.startswith("circuit_breaker")
    assert guarded.seconds_to_halt <= 10.0
    assert guarded.orders_after_halt == 0
    # and without safeguards the orders that left on no validated price are counted as breaches
    breached = {breach["limit"]: breach["count"] for breach in unguarded.breaches}
    assert breached[VALIDATED_PRICE] >= 1


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="quantity"):
        StressConfig(quantity=0.0)
    with pytest.raises(ValueError, match="side"):
        StressConfig(side="hold")
    with pytest.raises(ValueError, match="loss_halt_fraction"):
        StressConfig(loss_halt_fraction=1.5)
    with pytest.raises(KeyError, match="no-such"):
        stress_run("no-such", seed=1)


def _stress(*args: str) -> str:
    out = StringIO()
    call_command("stress", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_command_prints_exactly_the_report_keys() -> None:
    report = json.loads(_stress("--scenario", "vol-spike", "--seed", str(SEED), "--json"))
    assert set(report) == PRINTED_KEYS
    assert report["scenario"] == "vol-spike"
    assert report["halted"] is True
    assert report["orders_after_halt"] == 0
    assert report["max_loss_seen"] < report["daily_loss_limit"]
    assert all(math.isfinite(report[key]) for key in ("loss", "daily_loss_limit", "max_loss_seen"))


@pytest.mark.django_db
def test_command_without_safeguards_and_a_limit_of_its_own() -> None:
    report = json.loads(
        _stress(
            "--scenario", "vol-spike", "--seed", str(SEED), "--no-safeguards", "--daily-loss-limit", "500000", "--json"
        )
    )
    assert report["halted"] is False
    assert report["daily_loss_limit"] == 500000
    assert report["max_loss_seen"] > 500000


@pytest.mark.django_db
def test_command_text_output_names_the_halt() -> None:
    text = _stress("--scenario", "vol-spike", "--seed", str(SEED))
    assert "halted after" in text
    assert "orders after the halt: 0" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--scenario", "tsunami", "--seed", "1"), "tsunami"),
        (("--scenario", "vol-spike", "--seed", "-3"), "--seed"),
        (("--scenario", "vol-spike", "--seed", "x"), "--seed"),
        (("--seed", "1"), "--scenario"),
        (("--scenario", "vol-spike", "--seed", "1", "--daily-loss-limit", "0"), "--daily-loss-limit"),
    ],
)
def test_command_refuses_bad_arguments(args: tuple[str, ...], named: str) -> None:
    with pytest.raises(CommandError, match=named):
        _stress(*args)


@pytest.mark.django_db
def test_command_reads_the_desks_daily_loss_and_position_limits() -> None:
    from decimal import Decimal

    from risk.models import Limit, LimitKind, LimitScope

    # given the desk's own limits (the firm's looser position limit loses to the desk's)
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_DAILY_LOSS, value=Decimal(900_000))
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_POSITION, value=Decimal(120))
    Limit.objects.create(scope=LimitScope.FIRM, kind=LimitKind.MAX_POSITION, value=Decimal(500))
    # an inactive or book-level row is not the desk's
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value=Decimal(1), is_active=False)
    Limit.objects.create(scope=LimitScope.BOOK, scope_key="B1", kind=LimitKind.MAX_DAILY_LOSS, value=Decimal(1))

    report = json.loads(_stress("--scenario", "vol-spike", "--seed", str(SEED), "--json"))

    # then the replay is the one with those limits, not the defaults
    expected = stress_run(
        "vol-spike", seed=SEED, config=StressConfig(daily_loss_limit=900_000.0, max_position=120.0)
    ).as_dict()
    assert report == json.loads(json.dumps(expected))
    assert report["daily_loss_limit"] == 900_000
    text = _stress("--scenario", "vol-spike", "--seed", str(SEED))
    assert "daily_loss_limit 900000 (desk limit), max_position 120 (desk limit)" in text
    # and the command line still wins over the desk's figure
    own = json.loads(_stress("--scenario", "vol-spike", "--seed", str(SEED), "--daily-loss-limit", "700000", "--json"))
    assert own["daily_loss_limit"] == 700_000


@pytest.mark.django_db
def test_command_without_desk_limits_uses_the_defaults() -> None:
    text = _stress("--scenario", "vol-spike", "--seed", str(SEED))
    default = StressConfig()
    assert f"daily_loss_limit {default.daily_loss_limit:g} (default)" in text
    assert f"max_position {default.max_position:g} (default)" in text
