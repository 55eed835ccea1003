"""The execution domain's refusals, shared by its services and its schedule builder."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError


class ExecutionRefused(ValidationError):
    """A request the execution rules refuse; the message says why. Nothing is stored."""


class ExecutionPermissionDenied(PermissionDenied):
    """The actor's role does not allow this."""
