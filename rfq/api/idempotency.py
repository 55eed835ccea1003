"""Idempotent POSTs, a dealer's or a desk user's (an upstream order system entering desk orders): the first answer
to an ``Idempotency-Key`` is stored with the change it made, in the same transaction, and replayed to every retry.
Keys are the caller's own: per dealer, or per user. Two concurrent requests with one key: the database's unique
constraint lets one commit; the other rolls back whole and replays the winner's answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.edge import storable
from rfq.models import Counterparty, IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128


class IdempotencyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "this Idempotency-Key was used for a different request"
    default_code = "idempotency_conflict"


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a POST handler: requires the ``Idempotency-Key`` header, runs the handler at most once per key and
    caller (the dealer of DealerKey credentials, else the user)."""

    @wraps(handler)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationError({HEADER: [f"required header, 1 to {MAX_KEY_LENGTH} characters"]})
        owner = {"dealer": request.auth} if isinstance(request.auth, Counterparty) else {"user": request.user}
        fingerprint = _fingerprint(request)
        existing = IdempotencyRecord.objects.filter(**owner, key=key).first()
        if existing is not None:
            return _replay(existing, fingerprint)
        try:
            with transaction.atomic():
                response = _run(handler, view, request, *args, **kwargs)
                # The answer is stored as sent and sent as stored: text jsonb cannot hold (a NUL) is replaced in both,
                # so that storing it cannot fail and roll the handler's change back while a retry runs it again.
                response.data = storable(response.data)
                IdempotencyRecord.objects.create(
                    **owner,
                    key=key,
                    fingerprint=fingerprint,
                    response_status=response.status_code,
                    response_body=response.data,
                )
        except IntegrityError:
            winner = IdempotencyRecord.objects.filter(**owner, key=key).first()
            if winner is None:
                raise
            return _replay(winner, fingerprint)
        return response

    return wrapper


def _run(handler: Callable[..., Response], view: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
    # A refusal is an answer too: a retry gets the same 4xx. Services are atomic, so a refused call left nothing.
    try:
        return handler(view, request, *args, **kwargs)
    except APIException as error:
        return view.handle_exception(error)
