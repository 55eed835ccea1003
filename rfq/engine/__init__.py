"""The RFQ engine: whom to ask (``selection``), what the quotes are worth now (``market``), accept / wait / split
(``recommend``), automatic mode within the risk officer's limits (``auto``), and the RFQ's end (``lifecycle``).

Each automated decision is stored as a :class:`desk.models.DecisionRecord` with a registered replayer.
"""
