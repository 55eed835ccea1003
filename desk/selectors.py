"""Read queries for the desk's pages."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet

from desk import clock
from desk.audit import ChainReport
from desk.models import Account, AuditEvent, Instrument
from execution.models import ExecutionPlan, Fill
from rfq.models import RFQ, DeskOrder


def ticket_instruments() -> QuerySet[Instrument]:
    return Instrument.objects.filter(is_active=True).order_by("kind", "symbol")


def blotter_orders(*, limit: int = 50) -> QuerySet[DeskOrder]:
    return DeskOrder.objects.select_related("account", "instrument", "trader")[:limit]


def blotter_rfqs(*, limit: int = 50) -> QuerySet[RFQ]:
    return RFQ.objects.prefetch_related("legs__instrument")[:limit]


def blotter_plans(*, limit: int = 50) -> QuerySet[ExecutionPlan]:
    return ExecutionPlan.objects.select_related("instrument")[:limit]


def blotter_fills(*, limit: int = 50) -> QuerySet[Fill]:
    return Fill.objects.select_related("instrument")[:limit]


# Newest first: events the sealer has not chained yet (no seq) come before the chain's head.
AUDIT_NEWEST_FIRST = (F("seq").desc(nulls_first=True), F("id").desc())


def audit_events(*, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by(*AUDIT_NEWEST_FIRST)[:limit]


@dataclass(frozen=True)
class AuditFilter:
    """The compliance page's and the export's filters; every field optional. Times are UTC-aware."""

    start: datetime | None = None
    end: datetime | None = None
    actor: str = ""
    object_type: str = ""
    action: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "actor": self.actor or None,
            "object_type": self.object_type or None,
            "action": self.action or None,
        }


def audit_events_filtered(*, filters: AuditFilter, up_to_seq: int | None = None) -> QuerySet[AuditEvent]:
    """Audit events newest first: ``from`` inclusive, ``to`` exclusive, actor and object type exact, action by
    prefix (``rfq.`` finds every RFQ action); ``up_to_seq``: only chained events, up to that one."""
    events = AuditEvent.objects.order_by(*AUDIT_NEWEST_FIRST)
    if filters.start is not None:
        events = events.filter(occurred_at__gte=filters.start)
    if filters.end is not None:
        events = events.filter(occurred_at__lt=filters.end)
    if filters.actor:
        events = events.filter(actor=filters.actor)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if up_to_seq is not None:
        events = events.filter(seq__lte=up_to_seq)
    return events


def _distinct_values(column: str, limit: int) -> list[str]:
    # A walk down the column's index, one probe per distinct value (a "loose index scan"): its cost follows the
    # number of distinct values, not of events, where SELECT DISTINCT reads every row.
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    name = connection.ops.quote_name(column)
    sql = (
        f"WITH RECURSIVE walk(value, n) AS ("  # noqa: S608 - names from the model, the limit a parameter
        f"SELECT MIN({name}), 1 FROM {table} "
        f"UNION ALL SELECT (SELECT MIN({name}) FROM {table} WHERE {name} > walk.value), walk.n + 1 FROM walk "
        f"WHERE walk.value IS NOT NULL AND walk.n < %s) "
        f"SELECT value FROM walk WHERE value IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def audit_choices(*, limit: int = 200) -> dict[str, list[str]]:
    """Distinct actors, object types and actions for the filter form's suggestions (the first ``limit`` of each,
    in order)."""
    return {field: _distinct_values(field, limit) for field in ("actor", "object_type", "action")}


def audit_events_count(*, filters: AuditFilter, report: ChainReport) -> int:
    """How many events the filter matches. Unfiltered and with the chain intact, the chain says it without counting
    the table: its head's ``seq`` events plus those not chained yet."""
    if report.ok and filters == AuditFilter():
        return report.head_seq + report.pending
    return audit_events_filtered(filters=filters).count()


AUDIT_EXPORT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)


def _export_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def audit_export_statement(*, report: ChainReport) -> str:
    """One line stating the verification result: ``audit chain OK: ...`` or ``audit chain BROKEN at #n: ...``."""
    if report.ok:
        return f"audit chain OK: {report.events} events verified, head #{report.head_seq} {report.head_hash}"
    return f"audit chain BROKEN at #{report.broken_seq}: {report.reason}"


def audit_export_lines(
    *, filters: AuditFilter, report: ChainReport, export_format: str, chunk_size: int = 1000
) -> Iterator[str]:
    """The export, line by line: first the verification statement (CSV: a ``#`` comment line then the header
    row; JSONL: one ``{"audit_chain": ...}`` object), then the filtered events oldest first, none past the
    verified head so the file matches the statement. Reads in keyset chunks: memory stays flat."""
    exported_at = clock.now().isoformat(timespec="seconds")
    statement = audit_export_statement(report=report)
    if export_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        yield f"# {statement}; exported_at {exported_at}; filters {json.dumps(filters.as_dict())}\n"
        writer.writerow(AUDIT_EXPORT_COLUMNS)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    elif export_format == "jsonl":
        head = {"audit_chain": report.as_dict(), "statement": statement, "exported_at": exported_at}
        yield json.dumps(head | {"filters": filters.as_dict()}, sort_keys=True) + "\n"
    else:
        raise ValueError(f"unknown export format {export_format!r}: csv or jsonl")
    events = audit_events_filtered(filters=filters, up_to_seq=report.head_seq).order_by("seq")
    after = 0
    while True:
        chunk = list(events.filter(seq__gt=after)[:chunk_size])
        if not chunk:
            return
        after = chunk[-1].seq
        for event in chunk:
            row = _export_row(event)
            if export_format == "jsonl":
                yield json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
            else:
                row["before"] = "" if event.before is None else json.dumps(event.before, sort_keys=True)
                row["after"] = "" if event.after is None else json.dumps(event.after, sort_keys=True)
                writer.writerow([row[column] for column in AUDIT_EXPORT_COLUMNS])
        if export_format == "csv":
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()


def accounts_active() -> QuerySet[Account]:
    return Account.objects.filter(is_active=True).order_by("code")
