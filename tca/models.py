"""TCA stores nothing of its own yet: it reads fills, plans and market data (see the TCA issue)."""
