"""Per-request and per-task context that the audit trail records."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("desk_request_id", default=None)
