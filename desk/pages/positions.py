"""Positions and P&L: every book's positions marked live with greeks, and today's P&L explained (:mod:`tca.pnl`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from desk import clock
from desk.pages.common import base_context, desk_page
from tca.pnl import pnl_explain, positions_marked

PARTS = [
    ("delta", "Delta"),
    ("gamma", "Gamma"),
    ("vega", "Vega"),
    ("theta", "Theta"),
    ("new_trades", "New trades"),
    ("execution", "Execution cost"),
    ("residual", "Residual"),
]
TOTALS = ("unrealized", "realized", "delta", "gamma", "vega", "theta")


def _totals(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Sums of the P&L and greeks per ``key`` (book or underlying); a missing figure (no mark) counts as unknown."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {name: 0.0 for name in TOTALS} | {"positions": 0})
    for row in rows:
        acc = out[row[key]]
        acc["positions"] += 1
        for name in TOTALS:
            acc[name] = None if acc[name] is None or row[name] is None else acc[name] + row[name]
    return [{key: name} | values for name, values in sorted(out.items())]


@desk_page("execution.view_position")
@require_GET
def positions_page(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    positions = [
        row
        | {
            "vega_point": None if row["vega"] is None else row["vega"] / 100.0,
            "theta_day": None if row["theta"] is None else row["theta"] / 365.0,
            "iv_pct": None if row["iv"] is None else row["iv"] * 100.0,
        }
        for row in positions_marked(now=now)
    ]
    explained = pnl_explain(now=now)
    chart = {
        "labels": [label for _, label in PARTS],
        "underlyings": [
            {"underlying": row["underlying"], "values": [row.get(name, 0.0) for name, _ in PARTS]}
            for row in explained["underlyings"]
        ],
    }
    context = base_context(request) | {
        "positions": positions,
        "by_book": _totals(positions, "book"),
        "by_underlying": _totals(positions, "underlying"),
        "explained": explained,
        "parts": PARTS,
        "chart": chart,
        "as_of": now,
    }
    return render(request, "desk/positions.html", context)
