"""The desk's FIX sessions with the venues (initiator side): the application that books what the venues report,
and the gateway that keeps one session per venue and drains the outbox."""
