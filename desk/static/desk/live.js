// Live desk events over /ws/desk/, reconnecting with back-off when the socket drops.
(function () {
  const state = document.getElementById("ws-state");
  const list = document.getElementById("events");
  const heartbeat = document.getElementById("heartbeat");
  let delay = 500;

  const ticker = document.getElementById("ticker");

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
    const item = document.createElement("li");
    item.dataset.event = event;
    item.textContent = new Date().toLocaleTimeString() + "  " + event + "  " + JSON.stringify(payload);
    list.prepend(item);
    while (list.children.length > 100) list.lastChild.remove();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/desk/");
    socket.onopen = function () { state.textContent = "live"; state.className = "pill ok"; delay = 500; };
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
