"""Dealer API credentials: ``Authorization: DealerKey <key id>:<secret>``, checked against a salted hash.

The stored hash is Django's (PBKDF2, deliberately slow). Paying that on every request would cap a dealer at a
few requests per second, so a verified credential is remembered in this process for a few minutes under a
SHA-256 of the key, the secret and the stored hash: a rotated secret or a changed hash misses the cache."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rfq.models import Counterparty, CounterpartyStatus
from rfq.presence import dealer_seen

KEYWORD = "DealerKey"
VERIFIED_TTL_S = 300.0
_MAX_CACHED = 10_000

_verified: dict[str, float] = {}
_lock = threading.Lock()


def _fingerprint(key_id: str, secret: str, stored_hash: str) -> str:
    return hashlib.sha256(f"{key_id}\0{secret}\0{stored_hash}".encode()).hexdigest()


def secret_matches(dealer: Counterparty, key_id: str, secret: str) -> bool:
    """Check a dealer's API secret, the slow hash once per TTL and process."""
    fingerprint = _fingerprint(key_id, secret, dealer.api_secret_hash)
    now = time.monotonic()
    with _lock:
        expires = _verified.get(fingerprint)
    if expires is not None and expires > now:
        return True
    if not dealer.check_api_secret(secret):
        return False
    with _lock:
        if len(_verified) >= _MAX_CACHED:
            _verified.clear()
        _verified[fingerprint] = now + VERIFIED_TTL_S
    return True


class DealerKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Counterparty] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(KEYWORD + " "):
            return None
        key_id, sep, secret = header[len(KEYWORD) + 1 :].strip().partition(":")
        if not sep or not key_id or not secret:
            raise exceptions.AuthenticationFailed("malformed DealerKey credentials: expected <key id>:<secret>")
        dealer = Counterparty.objects.select_related("user").filter(api_key_id=key_id).first()
        if dealer is None or dealer.user is None or not secret_matches(dealer, key_id, secret):
            raise exceptions.AuthenticationFailed("invalid dealer credentials")
        if dealer.status != CounterpartyStatus.ACTIVE or not dealer.user.is_active:
            raise exceptions.AuthenticationFailed(f"dealer {dealer.code} is {dealer.status}")
        dealer_seen(dealer)
        return dealer.user, dealer

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="desk"'
