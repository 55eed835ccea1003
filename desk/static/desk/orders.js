// The desk orders page: the table of orders follows the desk live. Every desk event (an order entered, crossed,
// aggregated, filled, released) reloads it from the server, one request per burst, and so does every
// (re)connection of the socket, to catch up on what was missed. The form is left alone: what is typed stays.
(function () {
  const refresh = Desk.oncePerBurst(function () {
    Desk.fetchPage(location.pathname).then(function (doc) {
      if (!doc) return;
      const fresh = doc.getElementById("orders-live");
      const current = document.getElementById("orders-live");
      if (fresh && current) current.replaceWith(fresh);
    });
  }, 300);

  function onEvent(event) {
    if (event === "market" || event === "heartbeat" || event === "hello") return;
    refresh();
  }

  Desk.connectSocket({stateEl: document.getElementById("ws-state"), onOpen: refresh, onEvent: onEvent});
})();
