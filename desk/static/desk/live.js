// Live desk events over /ws/desk/ (Desk.connectSocket reconnects with back-off when the socket drops).
(function () {
  const list = document.getElementById("events");
  const heartbeat = document.getElementById("heartbeat");

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

  function showEvent(event, payload) {
    if (event === "market") {
      ticker.textContent = Object.keys(payload).sort().map(function (symbol) {
        return symbol + " " + payload[symbol].mid.toLocaleString(undefined, {maximumFractionDigits: 2});
      }).join("   ");
      return;
    }
    if (event === "heartbeat") {
      heartbeat.textContent = "worker heartbeat " + payload.at;
      return;
    }
    if (event !== "hello") refresh();
    const item = document.createElement("li");
    item.dataset.event = event;
    item.textContent = new Date().toLocaleTimeString() + "  " + event + "  " + JSON.stringify(payload);
    list.prepend(item);
    while (list.children.length > 100) list.lastChild.remove();
  }

  Desk.connectSocket({stateEl: document.getElementById("ws-state"), onOpen: refresh, onEvent: showEvent});
})();
