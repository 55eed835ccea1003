"""The simulated world: market, venues, dealer bots, scenarios, episodes. Production code never imports it."""
