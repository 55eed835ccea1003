"""The TCA page ``/desk/tca/``: the post-trade report of a period with its charts and downloads, and the pre-trade
estimator (its script calls ``/api/v1/tca/pretrade/``). Thin: check the role, parse the period, build the report
the way ``manage.py tca_report`` does, render.

Mounted by one line in the desk's page list: ``path("tca/", include("desk.pages.tca"))`` (:data:`urlpatterns`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_GET

from desk import clock
from desk.models import Instrument, InstrumentKind
from desk.pages import desk_page
from desk.roles import user_roles
from rfq.models import RFQ
from tca import metrics, reports, sources, trades
from tca.selectors import tca_fills_frame

DEFAULT_PERIOD_DAYS = 7
DOWNLOAD_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
PRETRADE_API_PATH = "/api/v1/tca/pretrade/"
"""Where the estimator widget finds the API when ``api:tca-pretrade`` is not mounted under its name."""


class TcaPeriodForm(forms.Form):
    """The report's period (inclusive UTC days), grouping and benchmark (GET)."""

    start = forms.DateField(label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(label="Group by", choices=[(name, name) for name in reports.GROUP_BY_CHOICES])
    benchmark = forms.ChoiceField(
        label="Benchmark",
        choices=[("decision", "decision price"), ("arrival", "arrival mid")],
        initial="decision",
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["benchmark"] = data.get("benchmark") or "decision"
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", f"{end.isoformat()} is before From {start.isoformat()}: swap them")
        return data


def _default_period() -> dict[str, Any]:
    today = clock.now().date()
    return {
        "start": today - timedelta(days=DEFAULT_PERIOD_DAYS - 1),
        "end": today,
        "group_by": "dealer",
        "benchmark": "decision",
    }


SCHEDULE_BUCKETS_S: tuple[int, ...] = (1, 5, 10, 30, 60, 300, 900, 3_600, 14_400, 86_400)
"""Bucket widths the schedule chart chooses from (the smallest giving at most :data:`SCHEDULE_MAX_BUCKETS`)."""
SCHEDULE_MAX_BUCKETS = 120


def _report_and_frames(
    *, start: date, end: date, group_by: str, benchmark: str
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    window_start = datetime.combine(start, time.min, tzinfo=UTC)
    window_end = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    raw = tca_fills_frame(start=window_start, end=window_end)
    tape = sources.tape_for(raw)
    fills, orders = sources.fills_and_orders(raw, end=pd.Timestamp(window_end), tape=tape)
    report = reports.tca_report_build(
        fills,
        orders,
        group_by=group_by,
        start=start,
        end=end,
        benchmark=benchmark,  # type: ignore[arg-type]
        source_descriptions=sources.SOURCE_DESCRIPTIONS,
        tape=tape,
        benchmark_orders=True,
    )
    return report, fills, tape


def _report(*, start: date, end: date, group_by: str, benchmark: str) -> dict[str, Any]:
    return _report_and_frames(start=start, end=end, group_by=group_by, benchmark=benchmark)[0]


def _schedule(fills: pd.DataFrame, tape: pd.DataFrame) -> dict[str, Any] | None:
    """The algorithms' fills against the market's volume (from the tape) in time buckets, for the instrument the
    algorithms traded most in the period; None without algorithm fills."""
    algo = fills.loc[fills["algo"] != "rfq"] if not fills.empty else fills
    if algo.empty:
        return None
    instrument = str(algo.groupby("instrument")["quantity"].sum().idxmax())
    mine = algo.loc[algo["instrument"] == instrument]
    times = pd.to_datetime(mine["time"], utc=True)
    first, last = times.min() - pd.Timedelta(minutes=1), times.max() + pd.Timedelta(minutes=1)
    span_s = (last - first).total_seconds()
    bucket_s = next((b for b in SCHEDULE_BUCKETS_S if span_s / b <= SCHEDULE_MAX_BUCKETS), SCHEDULE_BUCKETS_S[-1])
    origin = first.floor(f"{bucket_s}s")
    edges = pd.date_range(origin, last + pd.Timedelta(seconds=bucket_s), freq=f"{bucket_s}s")
    desk = mine["quantity"].astype(float).groupby(pd.cut(times, edges, right=False), observed=False).sum()
    market_rows = tape.loc[tape["instrument"].astype(object) == instrument] if not tape.empty else tape
    if market_rows.empty:
        market = pd.Series(0.0, index=desk.index)
    else:
        market_times = pd.to_datetime(market_rows["time"], utc=True)
        market = (
            market_rows["volume"].astype(float).groupby(pd.cut(market_times, edges, right=False), observed=False).sum()
        )
    market_values = [float(v) for v in market.reindex(desk.index).fillna(0.0)]
    desk_values = [float(v) for v in desk.fillna(0.0)]
    return {
        "instrument": instrument,
        "bucket_s": bucket_s,
        "labels": [interval.left.isoformat() for interval in desk.index],
        "desk_quantity": desk_values,
        "market_volume": market_values,
        "participation": [d / m if m > 0 else None for d, m in zip(desk_values, market_values, strict=True)],
        "has_tape": not market_rows.empty,
    }


def _markout_chart(report: dict[str, Any]) -> dict[str, Any]:
    """The dealer markout curves: one series of basis points per dealer over :data:`tca.metrics.MARKOUT_HORIZONS_S`."""
    horizons = list(metrics.MARKOUT_HORIZONS_S)
    dealers: dict[str, dict[str, Any]] = {}
    for row in report.get("markouts", []):
        entry = dealers.setdefault(
            row["dealer"], {"dealer": row["dealer"], "markout_bps": [None] * len(horizons), "fills": row["fills"]}
        )
        entry.setdefault("fills_without_data", [0] * len(horizons))
        if row["horizon_s"] in horizons:
            at = horizons.index(row["horizon_s"])
            entry["markout_bps"][at] = row["markout_bps"]
            entry["fills_without_data"][at] = row["fills_without_data"]
    return {"horizons_s": horizons, "dealers": list(dealers.values())}


def _waterfall(report: dict[str, Any]) -> dict[str, Any]:
    """The period's parts added over every group (exact, Decimal cents), then the total: the waterfall's bars."""
    totals = {name: sum((row["parts"][name] for row in report["rows"]), Decimal("0.00")) for name in metrics.PARTS}
    total = sum((row["total_cost"] for row in report["rows"]), Decimal("0.00"))
    return {
        "labels": [*metrics.PARTS, "total"],
        "values": [float(totals[name]) for name in metrics.PARTS] + [float(total)],
        "parts": totals,
        "total": total,
        "currency": report["currency"],
    }


def _by_group(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "groups": [str(row["group"]) for row in report["rows"]],
        "parts": {name: [float(row["parts"][name]) for row in report["rows"]] for name in metrics.PARTS},
    }


def _benchmark_table(report: dict[str, Any]) -> dict[str, Any]:
    """The report's ``benchmarks`` per group as table rows: one ``{"bps", "cost", "orders"}`` cell per benchmark."""
    section = report.get("benchmarks") or {}
    names = section.get("names", [])

    def line(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "group": row["group"],
            "orders": row["orders"],
            "orders_without_tape": row["orders_without_tape"],
            "notional": row["notional"],
            "cells": [row[name] for name in names],
        }

    return {
        "names": names,
        "descriptions": section.get("descriptions", {}),
        "rows": [line(row) for row in section.get("rows", [])],
        "total": line(section["total"]) if section.get("total") else None,
    }


def _pretrade_url() -> str:
    try:
        return reverse("api:tca-pretrade")
    except NoReverseMatch:
        return PRETRADE_API_PATH


@desk_page()
@require_GET
def tca_page(request: HttpRequest) -> HttpResponse:
    """The period's TCA report (table, benchmark slippage by group, cost waterfall, cost by group, dealer markout
    curves, the algorithms' schedule
    against the market's volume from the tape), its CSV and JSON downloads
    (``?format=csv|json``, the ``tca_report`` renderers) and the pre-trade estimator."""
    bound = bool(request.GET.get("start") or request.GET.get("end") or request.GET.get("group_by"))
    form = TcaPeriodForm(request.GET if bound else None, initial=_default_period())
    output_format = request.GET.get("format", "")
    if output_format and output_format not in DOWNLOAD_TYPES:
        return HttpResponseBadRequest(f"format: one of {', '.join(DOWNLOAD_TYPES)}", content_type="text/plain")
    if bound and not form.is_valid():
        if output_format:
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
        context = {
            "roles": user_roles(request.user),
            "form": form,
            "report": None,
            "pretrade_url": _pretrade_url(),
            "instruments": _estimator_instruments(),
        }
        return render(request, "tca/tca.html", context, status=400)
    period = form.cleaned_data if bound else _default_period()
    report, fills, tape = _report_and_frames(
        start=period["start"], end=period["end"], group_by=period["group_by"], benchmark=period["benchmark"]
    )
    if output_format:
        response = HttpResponse(
            reports.report_render(report, output_format=output_format), content_type=DOWNLOAD_TYPES[output_format]
        )
        name = f"tca-{report['from']}-{report['to']}-{report['group_by']}.{output_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    query = request.GET.copy()
    query.pop("format", None)
    if not bound:
        query.update({key: str(value) for key, value in period.items()})
    waterfall = _waterfall(report)
    context = {
        "roles": user_roles(request.user),
        "form": form,
        "report": report,
        "parts_order": metrics.PARTS,
        "waterfall": waterfall,
        "benchmark_table": _benchmark_table(report),
        "chart_data": {
            "waterfall": {key: waterfall[key] for key in ("labels", "values", "currency")},
            "by_group": _by_group(report),
            "markouts": _markout_chart(report),
            "schedule": _schedule(fills, tape),
        },
        "query": query.urlencode(),
        "pretrade_url": _pretrade_url(),
        "instruments": _estimator_instruments(),
    }
    return render(request, "tca/tca.html", context)


def _estimator_instruments() -> list[Instrument]:
    return list(
        Instrument.objects.filter(is_active=True, kind__in=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL]).order_by(
            "symbol"
        )
    )


def _trade_report(rfq: RFQ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The post-trade report of one RFQ's fills (its dealers' and the algorithms' of a split's rest), by leg."""
    start = rfq.created_at - timedelta(minutes=1)
    end = clock.now() + timedelta(seconds=1)
    raw = tca_fills_frame(start=start, end=end)
    if not raw.empty:
        raw = raw.loc[raw["leg"].astype(str).str.startswith(f"{rfq.reference}/")].reset_index(drop=True)
    tape = sources.tape_for(raw)
    fills, orders = sources.fills_and_orders(raw, end=pd.Timestamp(end), tape=tape)
    report = reports.tca_report_build(
        fills,
        orders,
        group_by="leg",
        start=start.date(),
        end=end.date(),
        benchmark="arrival",
        source_descriptions=sources.SOURCE_DESCRIPTIONS,
        tape=tape,
        benchmark_orders=True,
    )
    return report, fills, tape


@desk_page("rfq.view_rfq")
@require_GET
def tca_trade_page(request: HttpRequest, reference: str) -> HttpResponse:
    """One trade's confirmation and its transaction cost analysis by leg (linked from the board and the blotter)."""
    rfq = RFQ.objects.filter(reference=reference).first()
    if rfq is None:
        raise Http404
    report, fills, tape = _trade_report(rfq)
    waterfall = _waterfall(report)
    context = {
        "roles": user_roles(request.user),
        "rfq": rfq,
        "confirmation": trades.rfq_confirmation(rfq=rfq),
        "report": report,
        "parts_order": metrics.PARTS,
        "waterfall": waterfall,
        "benchmark_table": _benchmark_table(report),
        "chart_data": {
            "waterfall": {key: waterfall[key] for key in ("labels", "values", "currency")},
            "by_group": _by_group(report),
            "markouts": _markout_chart(report),
            "schedule": _schedule(fills, tape),
        },
    }
    return render(request, "tca/trade.html", context)


urlpatterns = [path("", tca_page, name="tca"), path("rfq/<str:reference>/", tca_trade_page, name="tca-trade")]
