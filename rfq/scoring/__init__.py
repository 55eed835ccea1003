"""Dealer scoring: features from the desk's own RFQ history, calibrated models, explanations, cold start and
dealer selection.

Pure modules (frames and arrays in and out, no ORM): :mod:`.features`, :mod:`.models`, :mod:`.train`,
:mod:`.scores`, :mod:`.explain`, :mod:`.cold_start`, :mod:`.select`. The ORM boundary: :mod:`.history` (reads the
history), :mod:`.selectors` (the live version), :mod:`.services` (train, promote, roll back, audited).
The simulated world (``sim.scoring`` books simulated history through the RFQ services, ``sim.dealers.population``
measures each simulated dealer's true cost, ``sim.scoring_eval`` compares the two) is never imported from here.
"""
