"""The desk's FIX 4.4 engine: wire format (:mod:`~desk.fix.codec`), session vocabulary (:mod:`~desk.fix.messages`),
the persistent store (:mod:`~desk.fix.store`) and the session layer (:mod:`~desk.fix.session`), acceptor side (the
dealers' gateway in ``rfq.fix``) and initiator side (the venues' sessions in ``execution.fix``)."""
