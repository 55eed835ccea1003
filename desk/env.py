"""Read the desk's settings from the environment.

Every variable is parsed here, once, with a clear message naming the variable when its value is malformed.
``settings.py`` turns a :class:`ConfigError` into a one-line exit so that a bad deployment stops at start-up
instead of failing later with a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dj_database_url

EMBEDDED_SECRET_KEY = "django-insecure-embedded-desk-only-for-local-debug-never-in-production"
# The audit trail's HMAC key of the embedded desk: anyone can read it here, so only DESK_DEBUG=1 may fall back on it.
EMBEDDED_AUDIT_KEY = "desk-embedded-audit-key-only-for-local-debug-never-in-production"
AUDIT_ANCHOR_NAME = "audit-anchor.jsonl"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(Exception):
    """A malformed or missing environment variable; the message names it."""


@dataclass(frozen=True)
class DeskEnv:
    debug: bool
    secret_key: str
    database: dict
    redis_url: str | None
    fix_port: int
    allowed_hosts: list[str]
    audit_key: str
    audit_anchor: str

    @property
    def embedded(self) -> bool:
        """True when no external broker is configured: one process, in-memory broker and channel layer."""
        return self.redis_url is None


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use 1 or 0)")


def parse_port(name: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a TCP port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}={value!r} is not a TCP port number (1-65535)")
    return port


def parse_database_url(name: str, value: str) -> dict:
    scheme = urlsplit(value).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ConfigError(f"{name}={value!r} must be a postgres:// or sqlite:// URL")
    try:
        config = dj_database_url.parse(value, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for one cause: a bad URL
        raise ConfigError(f"{name}={value!r} is not a valid database URL ({exc})") from None
    if not config.get("NAME"):
        raise ConfigError(f"{name}={value!r} names no database")
    return dict(config)


def parse_redis_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ConfigError(f"{name}={value!r} must be a redis://host:port/db URL")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily, on access
    except ValueError:
        raise ConfigError(f"{name}={value!r} has an invalid port") from None
    return value


def parse_hosts(name: str, value: str) -> list[str]:
    hosts = [host.strip() for host in value.split(",") if host.strip()]
    if not hosts:
        raise ConfigError(f"{name}={value!r} lists no host")
    return hosts


def parse_audit_key(name: str, value: str, *, debug: bool, secret_key: str) -> str:
    if not value:
        if not debug:
            raise ConfigError(f"{name} is not set (required when DESK_DEBUG=0): the audit trail's HMAC key")
        return EMBEDDED_AUDIT_KEY
    if len(value) < 32 or len(set(value)) < 5:
        raise ConfigError(f"{name} is too weak (at least 32 characters, 5 distinct)")
    if value == secret_key:
        raise ConfigError(f"{name} must differ from DJANGO_SECRET_KEY")
    return value


def default_audit_anchor(database: Mapping[str, Any], *, base_dir: str) -> str:
    """Next to the SQLite database file; under ``<base_dir>/var/`` for a server database."""
    if database.get("ENGINE") == "django.db.backends.sqlite3" and database.get("NAME", ":memory:") != ":memory:":
        return f"{database['NAME']}.{AUDIT_ANCHOR_NAME}"
    return os.path.join(base_dir, "var", AUDIT_ANCHOR_NAME)


def load(environ: Mapping[str, str], *, base_dir: str) -> DeskEnv:
    """Parse the desk's environment variables.

    Parameters
    ----------
    environ : the process environment (``os.environ`` in production, a dict in tests)
    base_dir : the project folder, where the embedded SQLite database lives (and the audit anchor of a server
        database, under ``var/``, unless ``DESK_AUDIT_ANCHOR`` names one)
    """
    debug = parse_bool("DESK_DEBUG", environ.get("DESK_DEBUG", "1"))
    secret_key = environ.get("DJANGO_SECRET_KEY", "")
    if not secret_key:
        if not debug:
            raise ConfigError("DJANGO_SECRET_KEY is not set (required when DESK_DEBUG=0)")
        secret_key = EMBEDDED_SECRET_KEY
    elif len(secret_key) < 50 or len(set(secret_key)) < 5:
        raise ConfigError("DJANGO_SECRET_KEY is too weak (at least 50 characters, 5 distinct)")

    raw_db = environ.get("DATABASE_URL", "")
    if raw_db:
        database = parse_database_url("DATABASE_URL", raw_db)
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(base_dir, "desk.sqlite3")}

    raw_redis = environ.get("REDIS_URL", "")
    redis_url = parse_redis_url("REDIS_URL", raw_redis) if raw_redis else None
    fix_port = parse_port("FIX_PORT", environ.get("FIX_PORT", "9878"))
    allowed_hosts = parse_hosts("DESK_ALLOWED_HOSTS", environ.get("DESK_ALLOWED_HOSTS", "localhost,127.0.0.1"))
    audit_key = parse_audit_key("DESK_AUDIT_KEY", environ.get("DESK_AUDIT_KEY", ""), debug=debug, secret_key=secret_key)
    audit_anchor = environ.get("DESK_AUDIT_ANCHOR", "").strip() or default_audit_anchor(database, base_dir=base_dir)
    return DeskEnv(
        debug=debug,
        secret_key=secret_key,
        database=database,
        redis_url=redis_url,
        fix_port=fix_port,
        allowed_hosts=allowed_hosts,
        audit_key=audit_key,
        audit_anchor=audit_anchor,
    )
