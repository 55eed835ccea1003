"""Run the desk's FIX sessions with its venues on their own (the scaled mode): ``python manage.py venuegateway``.

The venues are read from ``DESK_VENUE_FIX`` (``LIT-A=host:port,...``). Stops cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from execution.fix.gateway import venue_addresses, venue_gateway_serve


class Command(BaseCommand):
    help = "Run the desk's FIX 4.4 sessions with its venues (initiator, SenderCompID DESK), from DESK_VENUE_FIX."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            addresses = venue_addresses(settings.DESK_VENUE_FIX)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if not addresses:
            raise CommandError("DESK_VENUE_FIX names no venue (LIT-A=host:port,...)")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve(addresses))
        self.stdout.write("the venue gateway stopped")

    async def _serve(self, addresses: dict[str, tuple[str, int]]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await venue_gateway_serve(addresses=addresses, stop=stop, status_timeout_s=settings.DESK_VENUE_STATUS_TIMEOUT_S)
