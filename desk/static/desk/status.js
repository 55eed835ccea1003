// The status bar on every page: the worker's heartbeat as a relative time (red when it stops), and the halts and
// feeds redrawn from the server whenever the desk's websocket says a switch, a scope state or a feed changed.
(function () {
  const STALE_S = 30;

  function heartbeatTick() {
    const node = document.getElementById("status-heartbeat");
    if (!node || !node.dataset.at) return;
    const age = Math.max(0, (Date.now() - Date.parse(node.dataset.at)) / 1000);
    node.textContent = "Worker: heartbeat " + (age < 2 ? "just now" : Desk.duration(age) + " ago");
    node.classList.toggle("stale", age > STALE_S);
  }

  const redraw = Desk.oncePerBurst(function () {
    Desk.fetchPage("/desk/status/").then(function (doc) {
      const fresh = doc && doc.getElementById("status-bar");
      const current = document.getElementById("status-bar");
      if (fresh && current) { current.replaceWith(fresh); heartbeatTick(); }
    });
  }, 200);

  Desk.connectSocket({
    onOpen: redraw,
    onEvent: function (event, payload) {
      if (event === "heartbeat") {
        const node = document.getElementById("status-heartbeat");
        if (node) { node.dataset.at = payload.at; heartbeatTick(); }
      } else if (event === "risk.kill_switch" || event === "risk.market_health") {
        redraw();
      }
    },
  });
  heartbeatTick();
  setInterval(heartbeatTick, 1000);
})();
