"""TCA reports: from the metrics' frames to report rows, and from rows to JSON, CSV and HTML text. Pure: no ORM.

A report is a plain dict (see :func:`tca_report_build`); its ``rows`` are the groups of
:func:`tca.metrics.aggregate`, costs in the quote currency, positive when the desk paid, the parts of each row
adding up exactly to its ``total_cost`` (whole cents); its ``benchmarks`` the slippage of each order and group
against arrival, interval VWAP, TWAP and close (:func:`benchmark_section`).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tca import benchmarks, metrics

GROUP_BY_CHOICES: tuple[str, ...] = ("dealer", "algo", "trader", "leg", "period")
FORMAT_CHOICES: tuple[str, ...] = ("html", "csv", "json", "parquet")
FILE_ONLY_FORMATS: tuple[str, ...] = ("parquet",)
"""Binary formats: written to a file, never printed."""
ROW_FIELDS: tuple[str, ...] = ("group", "quantity", "notional", "total_cost")
BENCHMARK_CSV_COLUMNS: tuple[str, ...] = (
    "orders",
    "orders_without_tape",
    *(f"{name}_{field}" for name in benchmarks.BENCHMARK_NAMES for field in ("bps", "cost")),
)
"""The benchmark columns the CSV adds after :func:`report_header`'s (from the report's ``benchmarks`` rows)."""
UNATTRIBUTED = "(unattributed)"


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
    tape: pd.DataFrame | None = None,
    benchmark_orders: bool = False,
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
    tape : the market tape around the fills (:func:`tca.selectors.market_tape_frame`), for the markouts and the
        interval benchmarks; None: no markouts, and only the arrival benchmark.
    benchmark_orders : also list every order's benchmarks in ``benchmarks["orders"]`` (the command and the page's
        downloads do; a list of dicts per order costs time on large periods); False: an empty list.

    Returns
    -------
    ``{"from", "to", "group_by", "benchmark", "currency", "parts", "rows", "fills", "unpriced_fills",
    "fills_without_tape", "benchmark_sources", "markouts", "packages", "benchmarks", "note", "empty"}``; ``rows`` as
    :func:`tca.metrics.aggregate` (Decimal amounts), empty with a note saying so when the period has no fill;
    ``benchmarks`` the fills' slippage against arrival, interval VWAP, TWAP and close per order and per group
    (:func:`benchmark_section`);
    ``fills_without_tape`` counts the fills the market tape did not cover (priced from their own trade, see
    :mod:`tca.sources`); ``markouts`` the dealer markout curves (:func:`dealer_markouts`); ``packages`` the
    multi-leg packages judged as packages (:func:`package_rows`).
    """
    ledger = metrics.cost_ledger(fills, orders, benchmark=benchmark)
    rows = metrics.aggregate(ledger, by=group_by)
    fill_count = int(len(fills))
    unpriced = sum(int(row["unpriced_fills"]) for row in rows)
    without_tape = int((~fills["on_tape"].astype(bool)).sum()) if "on_tape" in fills.columns else fill_count
    if not fill_count:
        note = f"no fills between {start.isoformat()} and {end.isoformat()}: nothing to report"
    else:
        note = (
            f"{fill_count} fills; costs in the quote currency, positive when the desk paid; "
            f"implementation shortfall against the {benchmark} price; the parts add up to total_cost to the cent"
        )
        if unpriced:
            note += f"; {unpriced} fills had no benchmark price and are counted in unpriced_fills, not costed"
        if without_tape:
            note += (
                f"; {without_tape} fills had no market tape around them (fills_without_tape): priced from their own "
                "quote or limit, so their delay, timing and permanent impact are not measured"
            )
    section = benchmark_section(fills, orders, tape, group_by=group_by, with_orders=benchmark_orders)
    if section["total"]["orders_without_tape"]:
        note += (
            f"; {section['total']['orders_without_tape']} orders had no market tape over their interval "
            "(benchmarks.total.orders_without_tape): their VWAP, TWAP and close slippage is not measured"
        )
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
        "fills_without_tape": without_tape,
        "benchmark_sources": _sources(fills, source_descriptions or {}),
        "markouts": dealer_markouts(fills, tape) if tape is not None else [],
        "packages": package_rows(fills, orders, benchmark=benchmark),
        "benchmarks": section,
        "note": note,
        "empty": not fill_count,
    }


def _benchmark_row(group: str, sums: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "group": group,
        "orders": int(sums["orders"]),
        "orders_without_tape": int(sums["orders_without_tape"]),
        "quantity": float(sums["quantity"]),
        "notional": metrics.cents_to_decimal(round(float(sums["notional"]) * 100)),
    }
    for name in benchmarks.BENCHMARK_NAMES:
        priced = int(sums[f"{name}_orders"])
        row[name] = {
            "bps": _finite_or_none(sums[f"{name}_bps"]) if priced else None,
            "cost": metrics.cents_to_decimal(sums[f"{name}_cost"]) if priced else None,
            "orders": priced,
        }
    return row


def benchmark_section(
    fills: pd.DataFrame, orders: pd.DataFrame, tape: pd.DataFrame | None, *, group_by: str, with_orders: bool = True
) -> dict[str, Any]:
    """The report's ``benchmarks``: the average fill price of each order against the arrival mid, the interval VWAP
    (the tape's volume-weighted mid standing in for the market's prints), the interval TWAP and the close
    (:func:`tca.benchmarks.order_benchmark_slippage`), per order and added up per group of ``group_by``.

    Returns
    -------
    ``{"names", "descriptions", "rows", "total", "orders"}``: ``rows`` one dict per group (sorted, named like the
    report's rows) and ``total`` the same over every order: ``group``, ``orders``, ``orders_without_tape`` (orders
    whose interval the tape does not cover: counted, their VWAP, TWAP and close unknown), ``quantity``, ``notional``
    (Decimal, quote ccy) and per benchmark name ``{"bps", "cost", "orders"}``: the notional-weighted slippage in
    basis points, the cost in the quote currency (Decimal, the sum of the orders' costs to the cent, positive when
    the desk paid, fees not included) and how many orders have that benchmark (``bps`` and ``cost`` None when
    none). ``orders`` one dict per order: ``order_id``, ``group``, the columns of
    :data:`tca.benchmarks.ORDER_SLIPPAGE_COLUMNS` (times as ISO text, costs rounded to the cent, unknowns None);
    empty unless ``with_orders``.
    """
    slippage = benchmarks.order_benchmark_slippage(fills, orders, tape)
    if group_by in orders.columns and not slippage.empty:
        keys = orders.drop_duplicates("order_id").set_index("order_id")[group_by].reindex(slippage.index)
    else:
        keys = pd.Series(None, index=slippage.index, dtype=object)
    labels = keys.astype(object).where(keys.notna(), UNATTRIBUTED).map(str)
    by_group = benchmarks.benchmark_groups(slippage, labels.to_numpy())
    everything = benchmarks.benchmark_groups(slippage, pd.Series("all", index=slippage.index).to_numpy())
    empty_total = dict.fromkeys(["orders", "orders_without_tape", "quantity", "notional"], 0) | {
        f"{name}_{field}": 0 for name in benchmarks.BENCHMARK_NAMES for field in ("orders", "bps", "cost")
    }
    total = everything.iloc[0].to_dict() if len(everything) else empty_total
    return {
        "names": list(benchmarks.BENCHMARK_NAMES),
        "descriptions": dict(benchmarks.BENCHMARK_DESCRIPTIONS),
        "rows": [_benchmark_row(str(group), sums) for group, sums in by_group.iterrows()],
        "total": _benchmark_row("all", total),
        "orders": _order_records(slippage, labels) if with_orders else [],
    }


def _nullable(values: np.ndarray) -> list[object]:
    """Floats as a list of Python floats, NaN as None (JSON null)."""
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def _order_records(slippage: pd.DataFrame, labels: pd.Series) -> list[dict[str, Any]]:
    if slippage.empty:
        return []
    columns: dict[str, list[object]] = {
        "order_id": [str(value) for value in slippage.index],
        "group": labels.astype(str).tolist(),
    }
    for name in benchmarks.ORDER_SLIPPAGE_COLUMNS:
        values = slippage[name]
        if name in ("arrival_time", "end_time"):
            times = pd.to_datetime(values, utc=True)
            text = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            columns[name] = text.astype(object).where(times.notna(), None).tolist()
        elif name == "instrument":
            columns[name] = values.astype(object).where(values.notna(), None).tolist()
        elif name == "has_tape":
            columns[name] = values.astype(bool).tolist()
        else:
            numbers = values.to_numpy(dtype=float)
            columns[name] = _nullable(np.round(numbers, 2) if name == "notional" or name.endswith("_cost") else numbers)
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def package_rows(
    fills: pd.DataFrame, orders: pd.DataFrame, *, benchmark: metrics.Benchmark = "decision"
) -> list[dict[str, Any]]:
    """The multi-leg packages of the period judged as one trade each (:func:`tca.metrics.package_shortfall`).

    Parameters
    ----------
    fills : the fills frame with a ``package`` column (the RFQ's reference for the legs of a multi-leg RFQ, else
        None/NaN).
    orders : the orders frame: each leg's decision price (or arrival mid) makes the package's paper price
        ``sum_legs s q P_d`` over the quantity the legs filled.

    Returns
    -------
    One dict per package: ``package``, ``legs`` (instruments), ``fills``, ``net_paid`` (``sum s q p``), ``paper``,
    ``fees`` and ``total_cost`` (Decimal, to the cent, positive when the desk paid more than the package's paper
    price: a leg bought dear and one sold dear net out), and ``priced`` (False when a leg had no benchmark price).
    """
    if fills.empty or "package" not in fills.columns or fills["package"].isna().all():
        return []
    legs = fills.loc[fills["package"].notna()].rename(columns={"package": "package_id"})
    column = "arrival_mid" if benchmark == "arrival" else "decision_price"
    bench = legs["order_id"].map(orders.set_index("order_id")[column]).astype(float)
    paper = (
        (legs["side"].astype(float) * legs["quantity"].astype(float) * bench)
        .groupby(legs["package_id"])
        .sum(min_count=1)
    )
    priced = bench.notna().groupby(legs["package_id"]).all()
    packages = pd.DataFrame({"package_id": paper.index, "quantity": 1.0, "decision_price": paper.to_numpy()})
    result = metrics.package_shortfall(legs, packages)
    rows = []
    for package_id, row in result.iterrows():
        ok = bool(priced.get(package_id, False)) and math.isfinite(float(row["total_cost"]))
        cents = int(row["total_cents"]) if ok else 0
        mine = legs.loc[legs["package_id"] == package_id]
        rows.append(
            {
                "package": str(package_id),
                "legs": sorted({str(name) for name in mine["instrument"]}) if "instrument" in mine.columns else [],
                "fills": len(mine),
                "net_paid": metrics.cents_to_decimal(round(float(row["net_paid"]) * 100)),
                "paper": metrics.cents_to_decimal(round(float(row["paper"]) * 100)) if ok else None,
                "fees": metrics.cents_to_decimal(round(float(row["fees"]) * 100)),
                "total_cost": metrics.cents_to_decimal(cents) if ok else None,
                "priced": ok,
            }
        )
    return sorted(rows, key=lambda item: item["package"])


def dealer_markouts(fills: pd.DataFrame, tape: pd.DataFrame) -> list[dict[str, Any]]:
    """The dealer markout curves of the period's fills on the tape (:func:`tca.metrics.markout_curves`).

    Returns
    -------
    One dict per dealer and horizon: ``dealer``, ``horizon_s``, ``markout_bps`` (quantity-weighted; None when no
    fill of the dealer has tape at that horizon), ``markout_cost`` (quote ccy, None likewise), ``fills`` and
    ``fills_without_data`` (fills whose mid at the fill or at the horizon is not on the tape: counted, not hidden).
    Positive means the market moved against the desk after it traded.
    """
    if fills.empty:
        return []
    mids = pd.DataFrame(
        {
            "time": pd.to_datetime(tape["time"], utc=True),
            "instrument": tape["instrument"].astype(object),
            "mid": tape["mid"].astype(float),
        }
    )
    fill_rows = fills.loc[:, ["time", "instrument", "dealer", "side", "quantity", "price"]].astype(
        {"instrument": object}
    )
    fill_rows["time"] = pd.to_datetime(fill_rows["time"], utc=True)
    rows = metrics.markouts(fill_rows, mids)
    curves = metrics.markout_curves(rows, by="dealer")
    return [
        {
            "dealer": str(row["dealer"]),
            "horizon_s": int(row["horizon_s"]),
            "markout_bps": _finite_or_none(row["markout_bps"]),
            "markout_cost": _finite_or_none(row["markout_cost"]),
            "fills": int(row["fills"]),
            "fills_without_data": int(row["fills_without_data"]),
        }
        for row in curves.to_dict("records")
    ]


def _finite_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


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


def _benchmark_cells(row: dict[str, Any] | None) -> list[str]:
    if row is None:
        return [""] * len(BENCHMARK_CSV_COLUMNS)
    cells = [str(row["orders"]), str(row["orders_without_tape"])]
    for name in benchmarks.BENCHMARK_NAMES:
        bps, cost = row[name]["bps"], row[name]["cost"]
        cells += ["" if bps is None else f"{bps:.2f}", "" if cost is None else str(cost)]
    return cells


def report_csv(report: dict[str, Any]) -> str:
    """The rows as CSV (a header line even when empty); amounts written exactly, as decimals to the cent; after
    the cost columns, each group's benchmark slippage (:data:`BENCHMARK_CSV_COLUMNS`: bps to two places, costs to
    the cent, empty where unknown)."""
    section = {row["group"]: row for row in report.get("benchmarks", {}).get("rows", [])}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*report_header(), *BENCHMARK_CSV_COLUMNS])
    for row in report["rows"]:
        writer.writerow([*_flat_row(row), *_benchmark_cells(section.get(str(row["group"])))])
    return buffer.getvalue()


def _benchmarks_html(section: dict[str, Any], currency: str) -> str:
    esc = html.escape
    names = section["names"]
    head = "".join(f"<th>{esc(name)} bps</th><th>{esc(name)} cost</th>" for name in names)

    def cells(row: dict[str, Any]) -> str:
        out = f"<td>{esc(str(row['group']))}</td><td>{row['orders']}</td><td>{row['orders_without_tape']}</td>"
        out += f"<td>{esc(str(row['notional']))}</td>"
        for name in names:
            bps, cost = row[name]["bps"], row[name]["cost"]
            out += f"<td>{'no tape' if bps is None else f'{bps:.2f}'}</td><td>{'' if cost is None else cost}</td>"
        return out

    body = "".join(f"<tr>{cells(row)}</tr>" for row in section["rows"])
    notes = "".join(f"<li><code>{esc(name)}</code>: {esc(text)}</li>" for name, text in section["descriptions"].items())
    return (
        f"<h2>Benchmarks</h2><p>The average fill price against each benchmark, basis points weighted by notional, "
        f"costs in {esc(currency or 'the quote currency')} (positive = the desk paid, fees not included).</p>"
        f'<table class="benchmarks"><thead><tr><th>group</th><th>orders</th><th>orders_without_tape</th>'
        f"<th>notional</th>{head}</tr></thead><tbody>{body}</tbody>"
        f"<tfoot><tr>{cells(section['total'])}</tr></tfoot></table><ul>{notes}</ul>"
    )


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
    if report.get("packages"):
        cells = "".join(
            f"<tr><td>{esc(p['package'])}</td><td>{esc(', '.join(p['legs']))}</td><td>{p['fills']}</td>"
            f"<td>{esc(str(p['total_cost']))}</td></tr>"
            for p in report["packages"]
        )
        parts.append(
            '<h2>Packages</h2><table class="packages"><thead><tr><th>package</th><th>legs</th><th>fills</th>'
            f"<th>total_cost</th></tr></thead><tbody>{cells}</tbody></table>"
        )
    if report["rows"]:
        header = "".join(f"<th>{esc(name)}</th>" for name in report_header())
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in _flat_row(row)) + "</tr>" for row in report["rows"]
        )
        parts.append(f'<table class="tca"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>')
        if report.get("benchmarks"):
            parts.append(_benchmarks_html(report["benchmarks"], report["currency"]))
    else:
        parts.append('<p class="empty">No fills in this period.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def report_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The rows as a flat frame (the CSV's columns): ``group`` text, ``quantity`` float, the amounts as exact
    ``Decimal`` (two places), the fill counts as integers."""
    columns = report_header()
    records = []
    for row in report["rows"]:
        records.append(
            {
                "group": str(row["group"]),
                "quantity": float(row["quantity"]),
                "notional": row["notional"],
                "total_cost": row["total_cost"],
                **{name: row["parts"][name] for name in metrics.PARTS},
                "fills": int(row["fills"]),
                "unpriced_fills": int(row["unpriced_fills"]),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.astype({"group": str, "quantity": float, "fills": "int64", "unpriced_fills": "int64"})


def report_parquet(report: dict[str, Any], path: str | Path) -> Path:
    """Write the rows to a Parquet file (the amounts as ``decimal128`` with two places, so the parts still add up
    to ``total_cost`` exactly), the report's header fields in the file's metadata. Returns the path written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    amounts = ["notional", "total_cost", *metrics.PARTS]
    frame = report_frame(report)
    fields = [pa.field("group", pa.string()), pa.field("quantity", pa.float64())]
    fields += [pa.field(name, pa.decimal128(38, 2)) for name in amounts]
    fields += [pa.field("fills", pa.int64()), pa.field("unpriced_fills", pa.int64())]
    table = pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    header = {key: value for key, value in report.items() if key not in ("rows",)}
    if "benchmarks" in header:
        # the groups' benchmarks go in the metadata, not the (possibly long) list of orders
        header["benchmarks"] = {key: value for key, value in header["benchmarks"].items() if key != "orders"}
    metadata = dict(table.schema.metadata or {})
    metadata[b"tca_report"] = json.dumps(_number(header)).encode()
    target = Path(path)
    pq.write_table(table.replace_schema_metadata(metadata), target)
    return target


def report_render(report: dict[str, Any], *, output_format: str) -> str:
    """The report in one of the text formats of :data:`FORMAT_CHOICES` (Parquet: :func:`report_parquet`)."""
    if output_format in FILE_ONLY_FORMATS:
        raise ValueError(f"format {output_format!r} is binary: write it to a file with --output PATH")
    if output_format == "json":
        return report_json(report)
    if output_format == "csv":
        return report_csv(report)
    if output_format == "html":
        return report_html(report)
    raise ValueError(f"unknown format {output_format!r}: one of {', '.join(FORMAT_CHOICES)}")


def report_write(report: dict[str, Any], *, output_format: str, path: str | Path) -> Path:
    """Write the report in any of :data:`FORMAT_CHOICES` to ``path``; returns it."""
    if output_format in FILE_ONLY_FORMATS:
        return report_parquet(report, path)
    target = Path(path)
    target.write_text(report_render(report, output_format=output_format), encoding="utf-8")
    return target
