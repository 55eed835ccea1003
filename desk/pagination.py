"""The API's pagination: DRF's limit/offset, with the page size clamped.

DRF's ``LimitOffsetPagination`` without ``max_limit`` slices the query with whatever ``?limit=`` says: 2**63 or more
is out of range of the database's bigint (a 500 on PostgreSQL). A larger limit is clamped to :data:`MAX_LIMIT`, as
DRF's ``max_limit`` does; an offset past the last row already answers an empty page without a query."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT
    limit_query_description = f"Number of results to return per page (at most {MAX_LIMIT}: a larger limit is clamped)."
