"""A venue played by QuickFIX, as a process of its own: ``python -m tests.execution.quickfix_venue PORT FOLDER``.

The acceptor (SenderCompID LIT-A, TargetCompID DESK) validates what it receives against QuickFIX's own FIX44.xml and
acknowledges every NewOrderSingle, then fills it in two halves at its limit price. It prints one line per event on
stdout (``LOGON``, ``APP <message, | for SOH>``, ``REJECT <message>``, ``ERROR <text>``) and stops when stdin closes.
Its own process, because QuickFIX's acceptor can crash the interpreter when it is stopped (``SocketAcceptor.stop``
after other tests ran in the same process): a crash here ends only this process.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import quickfix as fix

VENUE = "LIT-A"


def say(line: str) -> None:
    print(line.replace("\x01", "|"), flush=True)


class QuickFixVenue(fix.Application):  # type: ignore[misc]
    exec_ids = 0

    def onCreate(self, sessionID) -> None:  # noqa: ANN001, N802, N803 - the QuickFIX callback names
        self.session_id = sessionID

    def onLogon(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        say("LOGON")

    def onLogout(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        say("LOGOUT")

    def toAdmin(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        if message.getHeader().getField(35) == "3":
            say(f"REJECT sent {message.toString()}")

    def fromAdmin(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        if message.getHeader().getField(35) == "3":
            say(f"REJECT received {message.toString()}")

    def toApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        return None

    def fromApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        say(f"APP {message.toString()}")
        try:
            if message.getHeader().getField(35) == "D":
                quantity, price = Decimal(message.getField(38)), message.getField(44)
                half = quantity / 2
                self._report(message, "0", "0", cum=Decimal(0), leaves=quantity)
                self._report(message, "F", "1", cum=half, leaves=quantity - half, last=(half, price))
                self._report(message, "F", "2", cum=quantity, leaves=Decimal(0), last=(quantity - half, price))
        except Exception as exc:  # a failure inside QuickFIX's thread must reach the test
            say(f"ERROR {exc!r}")

    def _report(self, order, exec_type: str, status: str, *, cum: Decimal, leaves: Decimal, last=None) -> None:  # noqa: ANN001
        QuickFixVenue.exec_ids += 1
        report = fix.Message()
        report.getHeader().setField(fix.MsgType("8"))
        report.setField(fix.OrderID(f"QF-{order.getField(11)}"))
        report.setField(fix.ClOrdID(order.getField(11)))
        report.setField(fix.ExecID(f"QF-E{self.exec_ids}"))
        report.setField(fix.ExecType(exec_type))
        report.setField(fix.OrdStatus(status))
        report.setField(fix.Symbol(order.getField(55)))
        report.setField(fix.Side(order.getField(54)))
        report.setField(fix.StringField(38, order.getField(38)))
        report.setField(fix.StringField(44, order.getField(44)))
        if last is not None:
            report.setField(fix.StringField(32, str(last[0])))
            report.setField(fix.StringField(31, last[1]))
        report.setField(fix.StringField(151, str(leaves)))
        report.setField(fix.StringField(14, str(cum)))
        report.setField(fix.StringField(6, order.getField(44) if cum else "0"))
        fix.Session.sendToTarget(report, self.session_id)


def main(port: int, folder: Path) -> None:
    dictionary = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    config = folder / "venue.cfg"
    config.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=acceptor",
                f"SocketAcceptPort={port}",
                f"FileStorePath={folder / 'store'}",
                f"FileLogPath={folder / 'log'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={dictionary}",
                "[SESSION]",
                "BeginString=FIX.4.4",
                f"SenderCompID={VENUE}",
                "TargetCompID=DESK",
                "",
            ]
        )
    )
    settings = fix.SessionSettings(str(config))
    store, log = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
    acceptor = fix.SocketAcceptor(QuickFixVenue(), store, settings, log)
    acceptor.start()
    say("READY")
    sys.stdin.read()  # until the test closes our stdin
    acceptor.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
