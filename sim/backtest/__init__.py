"""The wait-or-split backtest: simulated RFQ episodes, a pure replay core, and booking through the RFQ services.

:mod:`.episodes` generates the episodes (market, scenarios, dealer bots), :mod:`.model` fits the desk's dealer model
on its observed history, :mod:`.core` replays the episodes under a policy and costs them (pure, no ORM), and
:mod:`.booking` books a replay through :mod:`rfq.services` as the live desk would.
"""
