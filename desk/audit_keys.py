"""The audit trail's keys: one secret from the environment (``DESK_AUDIT_KEY``), one derived key per use.

Event hashes, checkpoint signatures and the verified position are each keyed with their own key derived from the
secret, so that a value made for one use is never accepted for another.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

EVENT = "event"
CHECKPOINT = "checkpoint"
VERIFIED = "verified"


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """The one byte form content is keyed in: sorted keys, no spaces, UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@functools.lru_cache(maxsize=16)
def _derived_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), f"desk-audit-{purpose}-v1".encode(), hashlib.sha256).digest()


def audit_secret() -> str:
    """``settings.DESK_AUDIT_KEY``; :class:`ImproperlyConfigured` when it is empty."""
    secret = getattr(settings, "DESK_AUDIT_KEY", "")
    if not secret:
        raise ImproperlyConfigured("DESK_AUDIT_KEY is not set: the audit trail's HMAC key (required when DESK_DEBUG=0)")
    return secret


def audit_mac(purpose: str, content: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) of ``content``'s canonical JSON under the key derived for ``purpose``."""
    return hmac.new(_derived_key(audit_secret(), purpose), canonical_json(content), hashlib.sha256).hexdigest()


def audit_mac_matches(purpose: str, content: Mapping[str, Any], mac: str) -> bool:
    """Whether ``mac`` is the MAC of ``content`` for ``purpose`` (compared in constant time)."""
    return hmac.compare_digest(audit_mac(purpose, content), mac or "")
