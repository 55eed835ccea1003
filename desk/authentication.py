"""Dealer API credentials: ``Authorization: DealerKey <key id>:<secret>``, checked against a salted hash."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rfq.models import Counterparty, CounterpartyStatus

KEYWORD = "DealerKey"


class DealerKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Counterparty] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(KEYWORD + " "):
            return None
        key_id, sep, secret = header[len(KEYWORD) + 1 :].strip().partition(":")
        if not sep or not key_id or not secret:
            raise exceptions.AuthenticationFailed("malformed DealerKey credentials: expected <key id>:<secret>")
        dealer = Counterparty.objects.select_related("user").filter(api_key_id=key_id).first()
        if dealer is None or not dealer.check_api_secret(secret) or dealer.user is None:
            raise exceptions.AuthenticationFailed("invalid dealer credentials")
        if dealer.status != CounterpartyStatus.ACTIVE or not dealer.user.is_active:
            raise exceptions.AuthenticationFailed(f"dealer {dealer.code} is {dealer.status}")
        return dealer.user, dealer

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="desk"'
