"""Read the desk's RFQ history from the database as one pandas frame: the only ORM code of dealer scoring.

Decimals become floats here, at the boundary (STYLE rule 7); everything downstream is pure pandas and numpy.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from rfq.models import DealerOrder, PackageType, Quote, QuoteRequest, QuoteRequestStatus, RFQLeg, Side

HISTORY_COLUMNS: tuple[str, ...] = (
    "request_id",
    "rfq_id",
    "sent_at",
    "dealer",
    "instrument",
    "kind",
    "multiplier",
    "side",
    "quantity",
    "declined",
    "quoted_at",
    "bid",
    "offer",
    "accepted_at",
    "order_status",
)
"""One row per quote request (an RFQ as sent to one dealer); see :func:`scoring_history_frame`."""


def scoring_history_frame(*, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Every quote request of the single-instrument RFQs sent in ``[start, end)`` (UTC), with what came of it.

    Returns
    -------
    A frame with :data:`HISTORY_COLUMNS`, ordered by ``sent_at``: ``sent_at`` when the RFQ was sent; ``dealer`` the
    counterparty code; ``kind`` the instrument class; ``multiplier`` units of base currency per contract; ``side``
    +1 when the desk buys, -1 when it sells; ``quantity`` contracts; ``declined`` whether the dealer said no;
    ``quoted_at``, ``bid``, ``offer`` its first quote (NaT/NaN when it never quoted; prices in quote currency per
    contract); ``accepted_at`` and ``order_status`` the desk's acceptance of that quote (``filled``, ``rejected``
    on last look, ...; empty when not accepted).
    """
    window: dict[str, datetime] = {}
    if start is not None:
        window["rfq__sent_at__gte"] = start
    if end is not None:
        window["rfq__sent_at__lt"] = end
    requests = pd.DataFrame.from_records(
        QuoteRequest.objects.filter(rfq__sent_at__isnull=False, rfq__package_type=PackageType.SINGLE, **window).values(
            "id", "rfq_id", "rfq__sent_at", "dealer__code", "status"
        ),
        columns=["id", "rfq_id", "rfq__sent_at", "dealer__code", "status"],
    )
    if requests.empty:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    legs = pd.DataFrame.from_records(
        RFQLeg.objects.filter(leg_no=1, rfq__package_type=PackageType.SINGLE, **window).values(
            "rfq_id", "instrument__symbol", "instrument__kind", "instrument__multiplier", "side", "quantity"
        ),
        columns=["rfq_id", "instrument__symbol", "instrument__kind", "instrument__multiplier", "side", "quantity"],
    )
    quotes = pd.DataFrame.from_records(
        Quote.objects.filter(**window)
        .order_by("received_at", "id")
        .values("id", "quote_request_id", "received_at", "legs__bid_price", "legs__offer_price"),
        columns=["id", "quote_request_id", "received_at", "legs__bid_price", "legs__offer_price"],
    ).drop_duplicates("quote_request_id", keep="first")
    orders = pd.DataFrame.from_records(
        DealerOrder.objects.filter(**{f"quote__{k}": v for k, v in window.items()})
        .order_by("created_at", "id")
        .values("quote_id", "created_at", "status"),
        columns=["quote_id", "created_at", "status"],
    ).drop_duplicates("quote_id", keep="first")
    orders = orders.rename(columns={"created_at": "accepted_at", "status": "order_status"})

    frame = requests.merge(legs, on="rfq_id", how="inner")
    frame = frame.merge(
        quotes.rename(columns={"id": "quote_id"}), left_on="id", right_on="quote_request_id", how="left"
    )
    frame = frame.merge(orders, on="quote_id", how="left")
    out = pd.DataFrame(
        {
            "request_id": frame["id"].astype("int64"),
            "rfq_id": frame["rfq_id"].astype("int64"),
            "sent_at": pd.to_datetime(frame["rfq__sent_at"], utc=True),
            "dealer": frame["dealer__code"].astype(str),
            "instrument": frame["instrument__symbol"].astype(str),
            "kind": frame["instrument__kind"].astype(str),
            "multiplier": frame["instrument__multiplier"].map(float),
            "side": frame["side"].map({Side.BUY: 1, Side.SELL: -1}).astype("int64"),
            "quantity": frame["quantity"].map(float),
            "declined": frame["status"].eq(QuoteRequestStatus.DECLINED),
            "quoted_at": pd.to_datetime(frame["received_at"], utc=True),
            "bid": frame["legs__bid_price"].map(lambda v: float("nan") if pd.isna(v) else float(v)),
            "offer": frame["legs__offer_price"].map(lambda v: float("nan") if pd.isna(v) else float(v)),
            "accepted_at": pd.to_datetime(frame["accepted_at"], utc=True),
            "order_status": frame["order_status"].fillna("").astype(str),
        }
    )
    return out.sort_values(["sent_at", "request_id"], kind="stable").reset_index(drop=True)
