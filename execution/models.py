"""Execution plans, their child orders, fills and the resulting positions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from desk.fields import ClockDateTimeField, price_field, quantity_field
from desk.models import Instrument, Side


class Algorithm(models.TextChoices):
    TWAP = "twap", "TWAP"
    VWAP = "vwap", "VWAP"
    POV = "pov", "Percent of volume"
    ALMGREN_CHRISS = "almgren_chriss", "Almgren-Chriss"


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    HALTED = "halted", "Halted by risk"
    SWITCHED = "switched", "Switched to an RFQ"


class AlgoParamStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    VALIDATED = "validated", "Validated"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class AlgoParamVersion(models.Model):
    """One version of an algorithm's parameters, promoted like a model: draft -> validated -> live -> retired.

    At most one version per algorithm is live; new plans of the algorithm run it (``ExecutionPlan.algo_params``).
    ``live_from`` is set when a version first goes live, so that "the last stable version" of an algorithm is the
    most recent one that was ever live."""

    algorithm = models.CharField(max_length=16, choices=Algorithm.choices)
    number = models.PositiveIntegerField(help_text="1, 2, ... per algorithm")
    params = models.JSONField(default=dict, blank=True, help_text="plan parameters the version sets")
    status = models.CharField(max_length=16, choices=AlgoParamStatus.choices, default=AlgoParamStatus.DRAFT)
    notes = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = ClockDateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    live_from = models.DateTimeField(null=True, blank=True, help_text="UTC; when it last went live")
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["algorithm", "-number"]
        permissions = [("promote_algoparams", "Can validate, promote and roll back algorithm parameters")]
        constraints = [
            models.UniqueConstraint(fields=["algorithm", "number"], name="algoparams_unique_number"),
            models.UniqueConstraint(
                fields=["algorithm"], condition=Q(status="live"), name="algoparams_one_live_per_algorithm"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="algoparams_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} v{self.number} ({self.status})"


class ExecutionPlan(models.Model):
    """How an accepted leg or a split residual is worked in the market."""

    rfq_leg = models.ForeignKey("rfq.RFQLeg", null=True, blank=True, on_delete=models.PROTECT, related_name="plans")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="plans")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    filled_quantity = quantity_field(default=0)
    algorithm = models.CharField(max_length=16, choices=Algorithm.choices)
    parameters = models.JSONField(default=dict, blank=True, help_text="algorithm parameters (horizon s, caps...)")
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plans")
    created_at = ClockDateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=0, help_text="optimistic lock, bumped by every state change")
    tick_seq = models.PositiveIntegerField(
        default=0, help_text="number of the worker tick that may re-schedule the next one (one tick chain per plan)"
    )
    algo_params = models.ForeignKey(
        AlgoParamVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="plans",
        help_text="the parameter version the plan runs (null: the algorithm's built-in defaults)",
    )
    protocol = models.CharField(
        max_length=16, blank=True, default="", help_text="'conservative' once the plan fell back to the safe protocol"
    )
    baseline = models.JSONField(
        default=dict, blank=True, help_text="what the current schedule assumed: market state, start, fills (re-plans)"
    )
    replans = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    fallback_rfq = models.ForeignKey(
        "rfq.RFQ", null=True, blank=True, on_delete=models.PROTECT, related_name="fallback_plans"
    )
    paused_for_venue = models.CharField(
        max_length=16, blank=True, default="", help_text="the venue whose disconnection paused the plan"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="plan_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="plan_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"plan {self.pk} {self.algorithm} {self.side} {self.quantity} {self.instrument}"


class ChildOrderStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    CHECKED = "checked", "Passed risk"
    SENT = "sent", "Sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged (working at the venue)"
    FILLED = "filled", "Filled"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class ChildOrder(models.Model):
    """One slice of a plan. ``client_order_id`` is deterministic (plan and slice number) so that a resumed worker
    re-sends the same id and the venue refuses a duplicate instead of trading twice."""

    plan = models.ForeignKey(ExecutionPlan, on_delete=models.PROTECT, related_name="child_orders")
    seq = models.PositiveIntegerField(help_text="slice number within the plan")
    client_order_id = models.CharField(max_length=64, unique=True)
    quantity = quantity_field()
    limit_price = price_field(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ChildOrderStatus.choices, default=ChildOrderStatus.PLANNED)
    scheduled_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.CharField(max_length=255, blank=True, default="")
    filled_quantity = quantity_field(default=0)
    venue = models.CharField(max_length=16, blank=True, default="", help_text="where the router sent it")
    venue_order_id = models.CharField(max_length=64, blank=True, default="", help_text="OrderID (37) at the venue")
    cl_ord_id = models.CharField(
        max_length=72, blank=True, default="", help_text="ClOrdID (11) live at the venue (a replace moves it)"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True, help_text="UTC, ExecutionReport New received")
    filled_at = models.DateTimeField(null=True, blank=True, help_text="UTC, last fill received")
    average_price = price_field(null=True, blank=True, help_text="AvgPx (6) of the fills booked")
    status_requested_at = models.DateTimeField(null=True, blank=True, help_text="UTC, last OrderStatusRequest")
    cancel_requested_at = models.DateTimeField(null=True, blank=True, help_text="UTC, OrderCancelRequest sent")
    cancel_reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["plan", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "seq"], name="childorder_unique_seq"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="childorder_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="childorder_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return self.client_order_id


class Fill(models.Model):
    """An execution: from the venue for a child order, or from a dealer for an accepted quote."""

    exec_id = models.CharField(max_length=64, unique=True, help_text="venue or dealer ExecID (17): no double count")
    child_order = models.ForeignKey(ChildOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    quote = models.ForeignKey("rfq.Quote", null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="fills")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    price = price_field()
    fee = price_field(default=0, help_text="quote currency")
    executed_at = models.DateTimeField(help_text="UTC")

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
            models.CheckConstraint(
                condition=Q(child_order__isnull=False) | Q(quote__isnull=False), name="fill_has_a_source"
            ),
        ]

    def __str__(self) -> str:
        return self.exec_id


class Position(models.Model):
    """Net position of a book in an instrument. ``quantity`` is signed: positive long, in contracts."""

    book = models.CharField(max_length=32, default="desk")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = quantity_field(default=0, help_text="signed contracts: + long, - short")
    average_price = price_field(default=0)
    realized_pnl = price_field(default=0, help_text="quote currency")
    updated_at = ClockDateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["book", "instrument"]
        constraints = [models.UniqueConstraint(fields=["book", "instrument"], name="position_unique")]

    def __str__(self) -> str:
        return f"{self.book} {self.instrument} {self.quantity}"


class FillExceptionReason(models.TextChoices):
    UNKNOWN_CHILD = "unknown_child", "No such child order"
    FINISHED_CHILD = "finished_child", "Child order already finished"
    OVERFILL = "overfill", "More than the child's open quantity"
    MISMATCH = "mismatch", "Same exec id, different fill"
    OUTSIDE_LIMIT = "outside_limit", "Fill price outside the order's limit"


class FillExceptionStatus(models.TextChoices):
    OPEN = "open", "Open"
    REVIEWED = "reviewed", "Reviewed"


class FillException(models.Model):
    """A venue execution report the desk did not book (unknown or finished child order, an overfill, an exec id
    seen before with other figures), kept for review. One row per ``exec_id``: a report delivered again only
    counts ``deliveries``."""

    exec_id = models.CharField(max_length=64, unique=True)
    client_order_id = models.CharField(max_length=64)
    child_order = models.ForeignKey(
        ChildOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="fill_exceptions"
    )
    reason = models.CharField(max_length=16, choices=FillExceptionReason.choices)
    detail = models.CharField(max_length=255, blank=True, default="")
    report = models.JSONField(help_text="the execution report as received")
    deliveries = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=FillExceptionStatus.choices, default=FillExceptionStatus.OPEN)
    received_at = models.DateTimeField(help_text="UTC, first delivery")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(deliveries__gte=1), name="fillexception_deliveries")]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.reason}"


class VenueSessionRecord(models.Model):
    """Persistent state of one FIX session of the desk (initiator) with a venue: sequence numbers survive restarts
    (the store of :mod:`desk.fix.store`). ``reconciled_at``: when the desk last finished reconciling its orders with
    the venue after logging on; nothing new is sent before."""

    sender_comp_id = models.CharField(max_length=64, help_text="ours (DESK)")
    target_comp_id = models.CharField(max_length=64, help_text="the venue's")
    next_sender_seq = models.PositiveIntegerField(default=1)
    next_target_seq = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, default="disconnected")
    heartbeat_interval = models.PositiveIntegerField(default=30)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender_comp_id", "target_comp_id"], name="venuesession_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.sender_comp_id}->{self.target_comp_id}"


class VenueFixMessage(models.Model):
    """Every FIX message of a venue session, by direction and MsgSeqNum: what ResendRequests are answered from."""

    session = models.ForeignKey(VenueSessionRecord, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3)
    seq = models.PositiveIntegerField()
    msg_type = models.CharField(max_length=4)
    raw = models.TextField()
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "direction", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "direction", "seq"], name="venuefixmsg_unique_seq")]

    def __str__(self) -> str:
        return f"{self.session} {self.direction} #{self.seq} {self.msg_type}"


class OutboxKind(models.TextChoices):
    NEW = "new", "NewOrderSingle"
    CANCEL = "cancel", "OrderCancelRequest"
    REPLACE = "replace", "OrderCancelReplaceRequest"


class VenueOutbox(models.Model):
    """An order message to a venue, stored with its ClOrdID before anything is sent (the outbox): the venue gateway
    sends it once the venue's session is up and reconciled, marking it sent in the transaction that stores the FIX
    message (so it goes out once, or is resent by the session layer after a crash)."""

    venue = models.CharField(max_length=16)
    kind = models.CharField(max_length=8, choices=OutboxKind.choices)
    child_order = models.ForeignKey(ChildOrder, on_delete=models.PROTECT, related_name="outbox")
    cl_ord_id = models.CharField(max_length=72, unique=True)
    fields = models.JSONField(help_text="the port message's fields (see execution.venue_orders)")
    created_at = ClockDateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_seq = models.PositiveIntegerField(null=True, blank=True, help_text="MsgSeqNum it went out with")

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["venue", "sent_at"], name="venueoutbox_pending")]

    def __str__(self) -> str:
        return f"{self.kind} {self.cl_ord_id} -> {self.venue}"


class VenueReportOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    BOOKED = "booked", "Fill booked"
    HELD = "held", "Held for review"
    REFUSED = "refused", "Refused"


class VenueReport(models.Model):
    """Every ExecutionReport a venue sent, once per (venue, ExecID): a report delivered again is recognised here and
    changes nothing."""

    venue = models.CharField(max_length=16)
    exec_id = models.CharField(max_length=64)
    exec_type = models.CharField(max_length=2)
    ord_status = models.CharField(max_length=2)
    cl_ord_id = models.CharField(max_length=72)
    child_order = models.ForeignKey(
        ChildOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="venue_reports"
    )
    outcome = models.CharField(max_length=8, choices=VenueReportOutcome.choices)
    detail = models.CharField(max_length=255, blank=True, default="")
    fields = models.JSONField(help_text="the report's fields as received")
    received_at = models.DateTimeField(help_text="UTC")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["venue", "exec_id"], name="venuereport_unique_exec_id")]

    def __str__(self) -> str:
        return f"{self.venue} {self.exec_id} {self.exec_type}"
