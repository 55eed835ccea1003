// One reconnecting connection to /ws/desk/ for a page: deskSocket({onEvent, onOpen, stateEl}).
// onOpen runs on every (re)connection so a page can catch up on what it missed while the socket was down.
window.deskSocket = function (options) {
  let delay = 500;
  function setState(text, cls) {
    if (!options.stateEl) return;
    options.stateEl.textContent = text;
    options.stateEl.className = "pill " + cls;
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/desk/");
    socket.onopen = function () {
      setState("live", "ok");
      delay = 500;
      if (options.onOpen) options.onOpen();
    };
    socket.onmessage = function (message) {
      const data = JSON.parse(message.data);
      options.onEvent(data.event, data.payload);
    };
    socket.onclose = function () {
      setState("reconnecting…", "warn");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
};

window.deskCsrf = function () {
  return document.querySelector("meta[name='csrf-token']").content;
};
