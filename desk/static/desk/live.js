// Live desk events over /ws/desk/, reconnecting with back-off when the socket drops.
(function () {
  const state = document.getElementById("ws-state");
  const list = document.getElementById("events");
  const heartbeat = document.getElementById("heartbeat");
  let delay = 500;

  const ticker = document.getElementById("ticker");

  // The tables come from the server with the page's own filters (the query string): reload them on each desk
  // event, one request per burst, and on every reconnection to catch up.
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(location.pathname + location.search, {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("blotter-live");
          const current = document.getElementById("blotter-live");
          if (fresh && current) current.replaceWith(fresh);
        });
    }, 300);
  }

  function show(event, payload) {
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

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/desk/");
    socket.onopen = function () { state.textContent = "live"; state.className = "pill ok"; delay = 500; refresh(); };
    socket.onmessage = function (message) {
      const data = JSON.parse(message.data);
      show(data.event, data.payload);
    };
    socket.onclose = function () {
      state.textContent = "reconnecting…"; state.className = "pill warn";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
