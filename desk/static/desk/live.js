// Live desk events over /ws/desk/ (Desk.connectSocket reconnects with back-off when the socket drops).
(function () {
  const list = document.getElementById("events");

  const ticker = document.getElementById("ticker");

  // The tables come from the server with the page's own filters (the query string): reload them on each desk
  // event, one request per burst, and on every reconnection to catch up.
  const refresh = Desk.oncePerBurst(function () {
    Desk.fetchPage(location.pathname + location.search).then(function (doc) {
      if (!doc) return;
      const fresh = doc.getElementById("blotter-live");
      const current = document.getElementById("blotter-live");
      if (fresh && current) current.replaceWith(fresh);
    });
  }, 300);

  // What a trader reads of an event: its main fields in words, not its JSON.
  const FIELDS = ["rfq", "status", "dealer", "side", "quantity", "price", "instrument", "plan", "scope", "scope_key",
                  "state", "reason", "message"];
  function summary(payload) {
    if (!payload || typeof payload !== "object") return "";
    return FIELDS.filter(function (key) { return payload[key] !== undefined && payload[key] !== null && payload[key] !== ""; })
      .map(function (key) {
        const value = payload[key];
        return key.replace("_", " ") + " " + (typeof value === "number" ? Desk.fmt(value, 4) : String(value));
      }).join(" · ");
  }

  function showEvent(event, payload) {
    if (event === "market") {
      ticker.textContent = Object.keys(payload).sort().map(function (symbol) {
        return symbol + " " + payload[symbol].mid.toLocaleString(undefined, {maximumFractionDigits: 2});
      }).join("   ");
      return;
    }
    // The heartbeat is the status bar's; "hello" only says the socket opened.
    if (event === "heartbeat" || event === "hello") return;
    refresh();
    const item = document.createElement("li");
    item.dataset.event = event;
    item.textContent = new Date().toLocaleTimeString() + "  " + event.replace(/[._]/g, " ") + "  " + summary(payload);
    list.prepend(item);
    while (list.children.length > 100) list.lastChild.remove();
  }

  Desk.connectSocket({stateEl: document.getElementById("ws-state"), onOpen: refresh, onEvent: showEvent});
})();
