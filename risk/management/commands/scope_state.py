"""``python manage.py scope_state --scope SCOPE [--key KEY] --state {active,reducing,halted} --reason WHY --user NAME``:
set a scope's state from the command line (the kill switch when the page and the API are out of reach). The user
must be a risk officer: the same service, permissions and audit as the page and the API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from risk import services
from risk.models import LimitScope, ScopeState


class Command(BaseCommand):
    help = "Set a risk scope's state: halted (kill switch), reducing (risk-reducing orders only) or active (re-arm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", required=True, choices=LimitScope.values)
        parser.add_argument("--key", default="", help="book, strategy, username, dealer, underlying or symbol")
        parser.add_argument("--state", required=True, choices=ScopeState.values)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", required=True, help="username of the risk officer acting")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"unknown user {options['user']!r}")
        try:
            switch = services.scope_state_set(
                scope=options["scope"],
                scope_key=options["key"],
                state=options["state"],
                reason=options["reason"],
                actor=user,
            )
        except services.RiskRefused as error:
            if hasattr(error, "error_dict"):
                named = (
                    f"{field}: {message}" for field, messages in error.message_dict.items() for message in messages
                )
                raise CommandError("; ".join(named)) from None
            raise CommandError("; ".join(error.messages)) from None
        except services.RiskPermissionDenied as error:
            raise CommandError(str(error)) from None
        label = f"{switch.scope}:{switch.scope_key}" if switch.scope_key else switch.scope
        self.stdout.write(f"{label} is {switch.state}")
