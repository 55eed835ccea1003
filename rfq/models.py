"""Counterparties (dealers), desk orders, RFQs with their legs, the requests sent to dealers, and quotes."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import F, Q

from desk.fields import QUANTUM, ClockDateTimeField, price_field, quantity_field
from desk.models import Account, Instrument, InstrumentKind, Side


class CounterpartyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    DISABLED = "disabled", "Disabled"


class Connectivity(models.TextChoices):
    FIX = "fix", "FIX 4.4"
    REST = "rest", "REST"


class Counterparty(models.Model):
    """A dealer the desk may ask for quotes. Credentials are stored only as salted hashes."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=CounterpartyStatus.choices, default=CounterpartyStatus.ACTIVE)
    connectivity = models.CharField(max_length=8, choices=Connectivity.choices, default=Connectivity.FIX)
    fix_sender_comp_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    fix_password_hash = models.CharField(max_length=256, blank=True, default="")
    api_key_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    api_secret_hash = models.CharField(max_length=256, blank=True, default="")
    instrument_classes = models.JSONField(default=list, blank=True, help_text="instrument kinds it quotes")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="counterparty",
        help_text="the login the dealer's API calls act as (role: dealer)",
    )
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "counterparties"

    def __str__(self) -> str:
        return self.code

    def set_api_secret(self, secret: str) -> None:
        self.api_secret_hash = make_password(secret)

    def check_api_secret(self, secret: str) -> bool:
        return bool(self.api_secret_hash) and check_password(secret, self.api_secret_hash)

    def set_fix_password(self, password: str) -> None:
        self.fix_password_hash = make_password(password)

    def check_fix_password(self, password: str) -> bool:
        return bool(self.fix_password_hash) and check_password(password, self.fix_password_hash)

    def quotes_kind(self, kind: InstrumentKind | str) -> bool:
        return str(kind) in self.instrument_classes


class Urgency(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    IMMEDIATE = "immediate", "Immediate"


class DeskOrderStatus(models.TextChoices):
    NEW = "new", "New"
    AGGREGATED = "aggregated", "In an RFQ"
    WORKING = "working", "Working"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


class DeskOrder(models.Model):
    """An order the desk has to execute, for a client's account or for one of the desk's books (exactly one of
    the two): its fills (crosses and allocations, :class:`DeskOrderFill`) are booked to that account's or book's
    position."""

    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    book = models.CharField(
        max_length=32, blank=True, default="", help_text="the desk's book the order is for (empty: a client account)"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="desk_orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    limit_price = price_field(null=True, blank=True, help_text="worst acceptable price, quote currency; empty: none")
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    status = models.CharField(max_length=16, choices=DeskOrderStatus.choices, default=DeskOrderStatus.NEW)
    filled_quantity = quantity_field(default=0)
    trader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="desk_orders")
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("view_blotter", "Can view the desk's pages and blotter")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="deskorder_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="deskorder_filled_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(limit_price__isnull=True) | Q(limit_price__gt=0), name="deskorder_limit_positive"
            ),
            models.CheckConstraint(
                condition=(Q(account__isnull=False) & Q(book="")) | (Q(account__isnull=True) & ~Q(book="")),
                name="deskorder_account_or_book",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.instrument}"

    @property
    def position_book(self) -> str:
        """The position book its fills go to: the client account's code, or the desk's book."""
        return self.account.code if self.account_id is not None else self.book

    @property
    def current_rfq(self) -> RFQ | None:
        """The newest RFQ that aggregated it (reads prefetched ``rfqs`` when there are), None before any."""
        return max(self.rfqs.all(), key=lambda rfq: rfq.pk, default=None)

    @property
    def open_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        """Quantity-weighted average price of its fills (crosses and allocations), None before the first; exact
        Decimal arithmetic, rounded half-even to the stored precision. Reads prefetched ``fills`` when there are."""
        fills = list(self.fills.all())
        filled = sum((fill.quantity for fill in fills), Decimal(0))
        if not filled:
            return None
        value = sum((fill.quantity * fill.price for fill in fills), Decimal(0))
        return (value / filled).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


class DeskOrderFillKind(models.TextChoices):
    CROSS = "cross", "Crossed internally"
    DEALER = "dealer", "Dealer fill allocated"
    ALGO = "algo", "Algorithm fill allocated"


class DeskOrderFill(models.Model):
    """One fill of a desk order: its share of an internal cross (at the validated price) or of a dealer's or an
    algorithm's fill (at that fill's price), allocated in whole lots. The position moves with it, in the same
    transaction: from ``from_book`` (the desk's book, empty for a cross) to ``to_book`` (the order's account or
    book)."""

    order = models.ForeignKey(DeskOrder, on_delete=models.PROTECT, related_name="fills")
    kind = models.CharField(max_length=8, choices=DeskOrderFillKind.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    price = price_field()
    from_book = models.CharField(max_length=32, blank=True, default="", help_text="empty: an internal cross")
    to_book = models.CharField(max_length=32)
    rfq = models.ForeignKey("RFQ", null=True, blank=True, on_delete=models.PROTECT, related_name="order_fills")
    dealer_order = models.ForeignKey(
        "DealerOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="order_fills"
    )
    counter_order = models.ForeignKey(
        DeskOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="a cross's other side"
    )
    source = models.CharField(max_length=80, blank=True, default="", help_text="the fill's exec id or ClOrdID")
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="deskorderfill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="deskorderfill_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.kind} {self.quantity} @ {self.price}"


class RFQStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    QUOTED = "quoted", "Quoted"
    ACCEPTED = "accepted", "Accepted"
    PARTIALLY_ACCEPTED = "partially_accepted", "Partially accepted"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


class PackageType(models.TextChoices):
    SINGLE = "single", "Single instrument"
    STRADDLE = "straddle", "Straddle"
    STRANGLE = "strangle", "Strangle"
    COLLAR = "collar", "Collar"
    CALL_SPREAD = "call_spread", "Call spread"
    PUT_SPREAD = "put_spread", "Put spread"
    CALENDAR = "calendar", "Calendar"
    CUSTOM = "custom", "Custom"


class TradingMode(models.TextChoices):
    MANUAL = "manual", "Manual: the desk recommends, the trader decides"
    AUTO = "auto", "Automatic within the risk officer's limits"


class RFQ(models.Model):
    """A request for quotes on one instrument or a multi-leg package, aggregating one or more desk orders."""

    reference = models.CharField(max_length=32, unique=True, help_text="the id dealers see; reveals no client")
    status = models.CharField(max_length=20, choices=RFQStatus.choices, default=RFQStatus.DRAFT)
    package_type = models.CharField(max_length=16, choices=PackageType.choices, default=PackageType.SINGLE)
    disclosed = models.BooleanField(default=False, help_text="disclose the desk's name (never the client)")
    orders = models.ManyToManyField(DeskOrder, blank=True, related_name="rfqs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rfqs")
    created_at = ClockDateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0, help_text="optimistic lock, bumped by every state change")
    mode = models.CharField(max_length=8, choices=TradingMode.choices, default=TradingMode.MANUAL)
    arrival_mid = price_field(
        null=True, blank=True, help_text="package gross mark (a single leg's mid) when sent: the cost benchmark"
    )
    allow_legging = models.BooleanField(default=False, help_text="a package may be filled leg by leg")
    risk_aversion = models.FloatField(default=0.05, help_text="λ of the wait-or-split decision, 1/bps")
    waves = models.JSONField(
        default=list, blank=True, help_text="dealer codes of the waves not sent yet, in order (list of lists)"
    )
    close_reason = models.CharField(
        max_length=255, blank=True, default="", help_text="how the RFQ ended, as the trader reads it on the board"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "RFQ"
        constraints = [models.CheckConstraint(condition=Q(risk_aversion__gte=0), name="rfq_risk_aversion_nonneg")]

    def __str__(self) -> str:
        return self.reference


class RFQLeg(models.Model):
    rfq = models.ForeignKey(RFQ, on_delete=models.CASCADE, related_name="legs")
    leg_no = models.PositiveSmallIntegerField()
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="rfq_legs")
    side = models.CharField(max_length=4, choices=Side.choices)
    ratio = models.PositiveSmallIntegerField(default=1, help_text="leg ratio within the package")
    quantity = quantity_field()

    class Meta:
        ordering = ["rfq", "leg_no"]
        constraints = [
            models.UniqueConstraint(fields=["rfq", "leg_no"], name="rfqleg_unique_no"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="rfqleg_quantity_positive"),
            models.CheckConstraint(condition=Q(ratio__gte=1), name="rfqleg_ratio_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.rfq.reference}/{self.leg_no}"


def shown_quantity(quantity: Decimal, fraction: Decimal, lot: Decimal) -> Decimal:
    """The part of ``quantity`` a dealer is shown: ``fraction`` of it, rounded down to whole lots, at least a lot."""
    lots = (quantity * fraction / lot).to_integral_value(rounding=ROUND_DOWN)
    return min(max(lots, Decimal(1)) * lot, quantity)


class QuoteRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    QUOTED = "quoted", "Quoted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"


class QuoteRequest(models.Model):
    """The RFQ as sent to one dealer. A dealer sees an RFQ only through its own QuoteRequest."""

    rfq = models.ForeignKey(RFQ, on_delete=models.CASCADE, related_name="quote_requests")
    dealer = models.ForeignKey(Counterparty, on_delete=models.PROTECT, related_name="quote_requests")
    quote_req_id = models.CharField(max_length=64, unique=True, help_text="FIX QuoteReqID (131)")
    channel = models.CharField(max_length=8, choices=Connectivity.choices)
    status = models.CharField(max_length=16, choices=QuoteRequestStatus.choices, default=QuoteRequestStatus.PENDING)
    shown_fraction = models.DecimalField(
        max_digits=5, decimal_places=4, default=1, help_text="share of the RFQ's size shown to this dealer"
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["rfq", "dealer"], name="quoterequest_one_per_dealer")]

    def __str__(self) -> str:
        return self.quote_req_id


class Firmness(models.TextChoices):
    FIRM = "firm", "Firm"
    INDICATIVE = "indicative", "Indicative"


class QuoteStatus(models.TextChoices):
    LIVE = "live", "Live"
    ACCEPTED = "accepted", "Accepted"
    FILLED = "filled", "Filled"
    LAST_LOOK_REJECTED = "last_look_rejected", "Rejected on last look"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


class Quote(models.Model):
    """A dealer's answer to a QuoteRequest: a price per leg (and a package price for multi-leg RFQs)."""

    rfq = models.ForeignKey(RFQ, on_delete=models.CASCADE, related_name="quotes")
    quote_request = models.ForeignKey(QuoteRequest, on_delete=models.CASCADE, related_name="quotes")
    dealer = models.ForeignKey(Counterparty, on_delete=models.PROTECT, related_name="quotes")
    quote_id = models.CharField(max_length=64, help_text="the dealer's QuoteID (117)")
    firmness = models.CharField(max_length=12, choices=Firmness.choices, default=Firmness.FIRM)
    status = models.CharField(max_length=20, choices=QuoteStatus.choices, default=QuoteStatus.LIVE)
    package_price = price_field(null=True, blank=True, help_text="net package price, quote currency per package")
    valid_until = models.DateTimeField(help_text="UTC, FIX ValidUntilTime (62)")
    received_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [("respond_rfq", "Can answer RFQs sent to its own counterparty")]
        constraints = [models.UniqueConstraint(fields=["dealer", "quote_id"], name="quote_unique_per_dealer")]

    def __str__(self) -> str:
        return f"{self.dealer.code}:{self.quote_id}"


class QuoteLeg(models.Model):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="legs")
    leg = models.ForeignKey(RFQLeg, on_delete=models.CASCADE, related_name="quote_legs")
    bid_price = price_field(null=True, blank=True)
    bid_size = quantity_field(null=True, blank=True)
    offer_price = price_field(null=True, blank=True)
    offer_size = quantity_field(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["quote", "leg"], name="quoteleg_unique"),
            models.CheckConstraint(
                condition=Q(bid_price__isnull=False) | Q(offer_price__isnull=False), name="quoteleg_has_a_side"
            ),
            models.CheckConstraint(
                condition=Q(bid_price__isnull=True) | Q(offer_price__isnull=True) | Q(bid_price__lte=F("offer_price")),
                name="quoteleg_not_crossed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quote} leg {self.leg.leg_no}"


class DealerOrderStatus(models.TextChoices):
    SENT = "sent", "Sent to the dealer"
    FILLED = "filled", "Filled"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    REJECTED = "rejected", "Rejected (last look)"
    CANCELLED = "cancelled", "Cancelled"


class DealerOrder(models.Model):
    """The desk's acceptance of a quote: a NewOrderSingle (D) carrying the QuoteID, or its REST equivalent.

    The dealer confirms with an ExecutionReport (fill) or rejects on last look. ``cl_ord_id`` is unique: a
    duplicate ClOrdID is refused."""

    cl_ord_id = models.CharField(max_length=64, unique=True, help_text="FIX ClOrdID (11)")
    quote = models.ForeignKey(Quote, on_delete=models.PROTECT, related_name="dealer_orders")
    dealer = models.ForeignKey(Counterparty, on_delete=models.PROTECT, related_name="dealer_orders")
    leg = models.ForeignKey(RFQLeg, null=True, blank=True, on_delete=models.PROTECT, related_name="dealer_orders")
    side = models.CharField(max_length=4, choices=Side.choices, help_text="the desk's side")
    quantity = quantity_field()
    price = price_field(help_text="the quoted price accepted, quote currency (package price for packages)")
    filled_quantity = quantity_field(default=0)
    status = models.CharField(max_length=20, choices=DealerOrderStatus.choices, default=DealerOrderStatus.SENT)
    reject_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="dealerorder_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="dealerorder_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return self.cl_ord_id


class DealerExecution(models.Model):
    """A fill a dealer reported on one of its orders (REST fill, FIX ExecutionReport ExecType F), by the dealer's own
    ExecID: unique per dealer, so a fill id reused on another order is refused, never read as the first one again;
    the same ExecID on the same order is a replay of the fill already booked."""

    dealer = models.ForeignKey(Counterparty, on_delete=models.PROTECT, related_name="executions")
    exec_id = models.CharField(max_length=64, help_text="the dealer's ExecID (17)")
    order = models.ForeignKey(DealerOrder, on_delete=models.PROTECT, related_name="executions")
    quantity = quantity_field(help_text="contracts, or package units for a package order")
    price = price_field()
    received_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dealer", "exec_id"], name="dealerexecution_unique_per_dealer"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="dealerexecution_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dealer_id}:{self.exec_id}"


class IdempotencyRecord(models.Model):
    """The stored answer to a POST with an ``Idempotency-Key``, a dealer's or a desk user's (an upstream order
    system's): a retry gets the same answer and the change is never applied twice. A reused key with a different
    body is refused. Keys are per dealer or per user."""

    dealer = models.ForeignKey(
        Counterparty, null=True, blank=True, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dealer", "key"], name="idempotency_unique_per_dealer"),
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_per_user"),
            models.CheckConstraint(
                condition=Q(dealer__isnull=False, user__isnull=True) | Q(dealer__isnull=True, user__isnull=False),
                name="idempotency_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dealer_id or 'user:' + str(self.user_id)}:{self.key}"


class FixSessionStatus(models.TextChoices):
    DISCONNECTED = "disconnected", "Disconnected"
    LOGGED_ON = "logged_on", "Logged on"
    LOGGING_OUT = "logging_out", "Logging out"


class FixSession(models.Model):
    """Persistent state of one FIX session (SenderCompID, TargetCompID): sequence numbers survive restarts."""

    sender_comp_id = models.CharField(max_length=64, help_text="ours (DESK)")
    target_comp_id = models.CharField(max_length=64, help_text="the dealer's")
    counterparty = models.ForeignKey(
        Counterparty, null=True, blank=True, on_delete=models.PROTECT, related_name="fix_sessions"
    )
    next_sender_seq = models.PositiveIntegerField(default=1, help_text="MsgSeqNum of our next outgoing message")
    next_target_seq = models.PositiveIntegerField(default=1, help_text="MsgSeqNum expected next from the peer")
    status = models.CharField(max_length=16, choices=FixSessionStatus.choices, default=FixSessionStatus.DISCONNECTED)
    heartbeat_interval = models.PositiveIntegerField(default=30, help_text="HeartBtInt (108), seconds")
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender_comp_id", "target_comp_id"], name="fixsession_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.sender_comp_id}->{self.target_comp_id}"


class FixDirection(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


class FixMessage(models.Model):
    """Every message of a session, by direction and MsgSeqNum: the store ResendRequests are answered from."""

    session = models.ForeignKey(FixSession, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=FixDirection.choices)
    seq = models.PositiveIntegerField()
    msg_type = models.CharField(max_length=4)
    raw = models.TextField(help_text="the encoded message, SOH-delimited")
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "direction", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "direction", "seq"], name="fixmessage_unique_seq")]

    def __str__(self) -> str:
        return f"{self.session} {self.direction} #{self.seq} {self.msg_type}"


class ScoringModelStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    VALIDATED = "validated", "Validated on the hold-out"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class ScoringModelVersion(models.Model):
    """One training of the dealer-scoring models: what it saw, how it did on the hold-out, and the model itself.

    Status goes draft → validated (hold-out metrics pass) → live (a risk officer promotes it) → retired. At most one
    version is live, which the database enforces."""

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=12, choices=ScoringModelStatus.choices, default=ScoringModelStatus.DRAFT)
    data_start = models.DateTimeField(help_text="UTC, first RFQ of the training data")
    data_end = models.DateTimeField(help_text="UTC, last RFQ of the training data")
    features = models.JSONField(default=list, help_text="the models' input features, by model")
    hyperparameters = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="hold-out metrics (AUC, Brier, baselines) and thresholds")
    training_data_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 of everything the result depends on (rfq.scoring.train.training_manifest)"
    )
    artifact = models.JSONField(help_text="the serialized models and dealer feature tables")
    owner = models.CharField(max_length=64, default="quant", help_text="team or person answerable for the model")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="scoring_models"
    )
    trained_by = models.CharField(
        max_length=150,
        default="",
        help_text="who trained it: user:<name>, or the system component (system:beat, system:train_scoring by ...)",
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    shadow_metrics = models.JSONField(
        default=dict, blank=True, help_text="metrics on RFQs scored after training (live and challenger in shadow)"
    )
    drift = models.JSONField(default=dict, blank=True, help_text="last drift check of inputs and calibration")

    class Meta:
        ordering = ["-version"]
        permissions = [("promote_scoring_model", "Can promote or roll back a dealer-scoring model version")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="live"), name="scoringmodelversion_one_live"),
            models.CheckConstraint(condition=Q(data_start__lte=F("data_end")), name="scoringmodelversion_window"),
        ]

    def __str__(self) -> str:
        return f"scoring v{self.version} ({self.status})"


class AutoTradingLimit(models.Model):
    """What the desk may do on its own in automatic mode, set by a risk officer: per trader, or desk-wide when
    ``trader`` is empty. Beyond it the desk only recommends."""

    trader = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="auto_trading_limit"
    )
    enabled = models.BooleanField(default=False)
    max_notional = price_field(help_text="largest RFQ notional (quote currency) the desk may accept by itself")
    max_cost_bps = models.FloatField(help_text="largest expected cost against arrival mid the desk may accept, bps")
    max_dealers = models.PositiveSmallIntegerField(default=5)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(max_notional__gte=0), name="autotradinglimit_notional_nonneg"),
        ]

    def __str__(self) -> str:
        return f"auto limit {self.trader or 'desk'}"
