"""Run the FIX 4.4 acceptor on its own: ``python manage.py fixgateway [--port P] [--conformance OURS:THEIRS]``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rfq.fix.acceptor import fix_gateway_serve


def parse_conformance(value: str | None) -> tuple[str, str] | None:
    """``OURS:THEIRS`` as a pair of CompIDs."""
    if value is None:
        return None
    ours, sep, theirs = value.partition(":")
    if not sep or not ours or not theirs:
        raise CommandError(f"--conformance {value!r}: expected OURS:THEIRS, two CompIDs")
    return ours, theirs


class Command(BaseCommand):
    help = (
        "Run the FIX 4.4 gateway (SenderCompID DESK, one session per dealer CompID). With --conformance OURS:THEIRS "
        "run the session layer alone for one peer, validate against FIX44.xml and echo application messages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
        parser.add_argument("--port", type=int, default=settings.FIX_PORT)
        parser.add_argument("--conformance", metavar="OURS:THEIRS", default=None)
        parser.add_argument("--dictionary", type=Path, default=None, help="FIX44.xml (default: quickfix's)")
        parser.add_argument(
            "--reset-on-logon",
            action="store_true",
            help="every Logon starts both sequences again at 1 (QuickFIX's ResetOnLogon=Y, as its acceptance runs)",
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        conformance: str | None,
        dictionary: Path | None,
        reset_on_logon: bool,
        **_: Any,
    ):
        comp_ids = parse_conformance(conformance)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                self._serve(
                    host=host,
                    port=port,
                    conformance=comp_ids,
                    dictionary=dictionary,
                    reset_on_logon=reset_on_logon,
                )
            )
        self.stdout.write("the FIX gateway stopped")

    async def _serve(
        self,
        *,
        host: str,
        port: int,
        conformance: tuple[str, str] | None,
        dictionary: Path | None,
        reset_on_logon: bool,
    ) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)

        def ready(bound: int) -> None:
            mode = f"conformance {conformance[0]}<->{conformance[1]}" if conformance else "dealers"
            self.stdout.write(f"FIX gateway listening on {host}:{bound} ({mode})")
            self.stdout.flush()

        await fix_gateway_serve(
            host=host,
            port=port,
            stop_event=stop,
            conformance=conformance,
            dictionary=dictionary,
            on_ready=ready,
            reset_on_logon=reset_on_logon,
        )
