"""``python manage.py killswitch {engage,rearm} --scope SCOPE [--key KEY] --reason TEXT --user NAME [--json]``:
the kill switch from the command line, for the risk officer named by ``--user``: the same services, permissions and
audit as the page and the API (engaging cancels open child orders and halts the plans under the scope; only a
risk officer re-arms)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from risk.models import LimitScope
from risk.services import kill_switch_engage, kill_switch_rearm


class Command(BaseCommand):
    help = "Engage or re-arm a kill switch, as the named risk officer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["engage", "rearm"])
        parser.add_argument("--scope", required=True, help=f"one of {', '.join(LimitScope.values)}")
        parser.add_argument("--key", default="", help="the scope's key: book, username, underlying, symbol")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", required=True, help="the risk officer acting (their permissions are checked)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"--user: no active user {options['user']!r}")
        service = kill_switch_engage if options["action"] == "engage" else kill_switch_rearm
        try:
            switch = service(scope=options["scope"], scope_key=options["key"], reason=options["reason"], actor=user)
        except PermissionDenied as error:
            raise CommandError(f"--user {user.get_username()}: {error}") from None
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                named = (f"{field}: {text}" for field, texts in error.message_dict.items() for text in texts)
                raise CommandError("; ".join(named)) from None
            raise CommandError("; ".join(error.messages)) from None
        out = {
            "scope": switch.scope,
            "key": switch.scope_key,
            "engaged": switch.engaged,
            "changed_by": switch.changed_by,
            "reason": switch.reason,
        }
        self.stdout.write(json.dumps(out) if options["json"] else f"{switch}: {switch.reason}")
