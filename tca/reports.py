"""TCA reports: from the metrics' frames to report rows, and from rows to JSON, CSV and HTML text. Pure: no ORM.

A report is a plain dict (see :func:`tca_report_build`); its ``rows`` are the groups of
:func:`tca.metrics.aggregate`, costs in the quote currency, positive when the desk paid, the parts of each row
adding up exactly to its ``total_cost`` (whole cents).
"""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from tca import metrics

GROUP_BY_CHOICES: tuple[str, ...] = ("dealer", "algo", "trader", "leg", "period")
FORMAT_CHOICES: tuple[str, ...] = ("html", "csv", "json")
ROW_FIELDS: tuple[str, ...] = ("group", "quantity", "notional", "total_cost")


def _currency(fills: pd.DataFrame) -> str:
    if "currency" not in fills.columns or fills.empty:
        return ""
    names = sorted({str(name) for name in fills["currency"].dropna()})
    return names[0] if len(names) == 1 else "mixed: " + ", ".join(names)


def _sources(fills: pd.DataFrame, descriptions: dict[str, str]) -> dict[str, dict[str, object]]:
    if "benchmark_source" not in fills.columns or fills.empty:
        return {}
    counts = fills["benchmark_source"].value_counts(sort=False)
    return {
        str(name): {"fills": int(count), "description": descriptions.get(str(name), str(name))}
        for name, count in sorted(counts.items())
    }


def tca_report_build(
    fills: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    group_by: str,
    start: date,
    end: date,
    benchmark: metrics.Benchmark = "decision",
    source_descriptions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report of a period: one row per group, with what priced it and what could not be priced.

    Parameters
    ----------
    fills, orders : the frames of :mod:`tca.metrics` (e.g. from :func:`tca.sources.fills_and_orders`), with a column
        named ``group_by`` and optionally ``benchmark_source`` and ``currency``.
    group_by : one of :data:`GROUP_BY_CHOICES`.
    start, end : the period, inclusive dates (for the header only).
    benchmark : ``"decision"`` or ``"arrival"``.
    source_descriptions : what each ``benchmark_source`` value means.

    Returns
    -------
    ``{"from", "to", "group_by", "benchmark", "currency", "parts", "rows", "fills", "unpriced_fills",
    "benchmark_sources", "note"}``; ``rows`` as :func:`tca.metrics.aggregate` (Decimal amounts), empty with a note
    saying so when the period has no fill.
    """
    ledger = metrics.cost_ledger(fills, orders, benchmark=benchmark)
    rows = metrics.aggregate(ledger, by=group_by)
    fill_count = int(len(fills))
    unpriced = sum(int(row["unpriced_fills"]) for row in rows)
    if not fill_count:
        note = f"no fills between {start.isoformat()} and {end.isoformat()}: nothing to report"
    else:
        note = (
            f"{fill_count} fills; costs in the quote currency, positive when the desk paid; "
            f"implementation shortfall against the {benchmark} price; the parts add up to total_cost to the cent"
        )
        if unpriced:
            note += f"; {unpriced} fills had no benchmark price and are counted in unpriced_fills, not costed"
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by,
        "benchmark": benchmark,
        "currency": _currency(fills),
        "parts": list(metrics.PARTS),
        "rows": rows,
        "fills": fill_count,
        "unpriced_fills": unpriced,
        "benchmark_sources": _sources(fills, source_descriptions or {}),
        "note": note,
    }


def _number(value: object) -> object:
    if isinstance(value, Decimal):
        # two-place Decimals print back as the same digits from a float, so JSON stays to the cent
        return float(value)
    if isinstance(value, dict):
        return {key: _number(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_number(item) for item in value]
    return value


def report_json(report: dict[str, Any]) -> str:
    """The report as one JSON object ``{"rows": [...], ...}``; amounts as JSON numbers with two decimals."""
    return json.dumps(_number(report))


def _flat_row(row: dict[str, Any]) -> list[str]:
    parts = row["parts"]
    values = [
        row["group"],
        row["quantity"],
        row["notional"],
        row["total_cost"],
        *(parts[name] for name in metrics.PARTS),
    ]
    return [str(value) for value in (*values, row["fills"], row["unpriced_fills"])]


def report_header() -> list[str]:
    """The CSV and HTML columns: the row fields, one column per part, then the fill counts."""
    return [*ROW_FIELDS, *metrics.PARTS, "fills", "unpriced_fills"]


def report_csv(report: dict[str, Any]) -> str:
    """The rows as CSV (a header line even when empty); amounts written exactly, as decimals to the cent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report_header())
    for row in report["rows"]:
        writer.writerow(_flat_row(row))
    return buffer.getvalue()


def report_html(report: dict[str, Any]) -> str:
    """A self-contained HTML page: the period, the notes, the benchmark sources and the table (or its absence)."""
    esc = html.escape
    title = f"TCA {report['from']} to {report['to']} by {report['group_by']}"
    sources = "".join(
        f"<li><code>{esc(name)}</code>: {esc(str(info['description']))} ({info['fills']} fills)</li>"
        for name, info in report["benchmark_sources"].items()
    )
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title></head><body>',
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">{esc(report["note"])}</p>',
    ]
    if report["currency"]:
        parts.append(f"<p>Currency: {esc(report['currency'])}. Benchmark: {esc(report['benchmark'])}.</p>")
    if sources:
        parts.append(f"<h2>Benchmark sources</h2><ul>{sources}</ul>")
    if report["rows"]:
        header = "".join(f"<th>{esc(name)}</th>" for name in report_header())
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in _flat_row(row)) + "</tr>" for row in report["rows"]
        )
        parts.append(f'<table class="tca"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>')
    else:
        parts.append('<p class="empty">No fills in this period.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def report_render(report: dict[str, Any], *, output_format: str) -> str:
    """The report in one of :data:`FORMAT_CHOICES`."""
    if output_format == "json":
        return report_json(report)
    if output_format == "csv":
        return report_csv(report)
    if output_format == "html":
        return report_html(report)
    raise ValueError(f"unknown format {output_format!r}: one of {', '.join(FORMAT_CHOICES)}")
