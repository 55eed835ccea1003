// What every page script shares, as one global, window.Desk: formatting, DOM helpers, JSON and HTML requests and
// the desk's websocket. base.html loads it before the page scripts (no build step). Where pages used to format
// the same kind of number differently, the function takes a parameter so that each page shows what it showed.
(function () {
  const DASH = "—";

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  // options.missing: what null and undefined show (the dash); null formats them as Number() does, as the TCA
  // page always has. options.nan: what a value that is not a number shows (by default "NaN", as Number gives).
  function bps(value, options) {
    const o = options || {};
    const missing = o.missing === undefined ? DASH : o.missing;
    if (missing !== null && (value === null || value === undefined)) return missing;
    if (o.nan !== undefined && Number.isNaN(Number(value))) return o.nan;
    return Number(value).toFixed(o.digits === undefined ? 2 : o.digits);
  }

  // A quantity or price in the reader's locale, up to `digits` decimals (8: a crypto quantity).
  function fmt(value, digits) {
    if (value === null || value === undefined) return DASH;
    return Number(value).toLocaleString(undefined, {maximumFractionDigits: digits === undefined ? 8 : digits});
  }

  // An amount of money with exactly `digits` decimals (the ticket shows whole units, the TCA page cents).
  function money(value, digits) {
    const d = digits === undefined ? 2 : digits;
    return Number(value).toLocaleString(undefined, {minimumFractionDigits: d, maximumFractionDigits: d});
  }

  function pct(value) {
    return value === null || value === undefined ? DASH : (100 * Number(value)).toFixed(0) + " %";
  }

  // The ticket counts seconds under two minutes and hours to a tenth; the TCA page's "coarse" style starts at
  // minutes and shows whole hours without a decimal.
  function duration(seconds, style) {
    if (style === "coarse") {
      if (!seconds) return "now";
      if (seconds < 3600) return Math.round(seconds / 60) + " min";
      return (seconds / 3600).toFixed(seconds % 3600 ? 1 : 0) + " h";
    }
    const s = Number(seconds);
    if (!s) return "now";
    if (s < 120) return s.toFixed(0) + " s";
    if (s < 7200) return (s / 60).toFixed(0) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function cssColour(name, fallback) {
    return (getComputedStyle(document.documentElement).getPropertyValue(name) || fallback).trim();
  }

  const PALETTE = ["#4ea1ff", "#d9a400", "#c678dd", "#ff6b6b", "#e5895a", "#8a96a3", "#3fb68b"];

  function chartTheme(textColour) {
    Chart.defaults.color = textColour;
    Chart.defaults.borderColor = "#243040";
  }

  function showMessage(node, text, cls) {
    node.textContent = text;
    node.className = "message " + (cls || "");
    node.hidden = false;
  }

  function csrf() {
    return document.querySelector("meta[name='csrf-token']").content;
  }

  // A DRF error body in one line: "field: problem; other: problem" (a "detail" without its name).
  function errorText(body, status) {
    if (!body || typeof body !== "object") return "error " + status;
    const parts = [];
    Object.keys(body).forEach(function (key) {
      const value = Array.isArray(body[key]) ? body[key].join(" ") : (typeof body[key] === "object" ? JSON.stringify(body[key]) : body[key]);
      parts.push((key === "detail" ? "" : key + ": ") + value);
    });
    return parts.join("; ") || "error " + status;
  }

  // A JSON request with the session's cookie. Resolves with the body (null when it is not JSON); a refusal rejects
  // with an Error whose message is describe(body, status) (errorText by default) and which carries status and body.
  function call(url, options, describe) {
    return fetch(url, Object.assign({credentials: "same-origin"}, options)).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) {
          const error = new Error((describe || errorText)(body, response.status));
          error.status = response.status;
          error.body = body;
          throw error;
        }
        return body;
      });
    });
  }

  // A page of the desk parsed, for a page to take its fresh parts from; null when refused or empty.
  // The server writes a bar's width as data-width (percent), not as a style attribute, which the
  // Content-Security-Policy refuses; set through the DOM (CSSOM), a width is allowed.
  function widths(root) {
    root.querySelectorAll("[data-width]").forEach(function (node) {
      node.style.width = node.dataset.width + "%";
    });
  }

  function fetchPage(url) {
    return fetch(url, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return null;
        const doc = new DOMParser().parseFromString(html, "text/html");
        widths(doc);
        return doc;
      });
  }

  // fn runs `ms` after the first call of a burst, with that call's arguments; the calls meanwhile are dropped
  // (a burst of events makes one request).
  function oncePerBurst(fn, ms) {
    let pending = null;
    return function () {
      if (pending) return;
      const args = arguments;
      pending = setTimeout(function () {
        pending = null;
        fn.apply(null, args);
      }, ms);
    };
  }

  // One reconnecting connection to /ws/desk/ per page, shared by every script on it: connectSocket(options) adds a
  // listener, onEvent(event, payload) per message; onOpen on every (re)connection (and at once when the socket is
  // already open) so that a page catches up on what it missed while the socket was down; stateEl shows live /
  // reconnecting.
  const listeners = [];
  let socket = null;
  let delay = 500;

  function socketState(text, cls) {
    listeners.forEach(function (options) {
      if (!options.stateEl) return;
      options.stateEl.textContent = text;
      options.stateEl.className = "pill " + cls;
    });
  }

  function socketOpen() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/desk/");
    socket.onopen = function () {
      socketState("live", "ok");
      delay = 500;
      listeners.forEach(function (options) { if (options.onOpen) options.onOpen(); });
    };
    socket.onmessage = function (message) {
      const data = JSON.parse(message.data);
      listeners.forEach(function (options) { options.onEvent(data.event, data.payload); });
    };
    socket.onclose = function () {
      socketState("reconnecting…", "warn");
      setTimeout(socketOpen, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  function connectSocket(options) {
    listeners.push(options);
    if (socket === null) { socketOpen(); return; }
    if (socket.readyState === WebSocket.OPEN) {
      if (options.stateEl) { options.stateEl.textContent = "live"; options.stateEl.className = "pill ok"; }
      if (options.onOpen) options.onOpen();
    }
  }

  widths(document);

  window.Desk = {
    DASH: DASH, PALETTE: PALETTE,
    el: el, bps: bps, fmt: fmt, money: money, pct: pct, duration: duration, cssColour: cssColour,
    chartTheme: chartTheme, showMessage: showMessage, csrf: csrf, errorText: errorText, call: call,
    fetchPage: fetchPage, oncePerBurst: oncePerBurst, connectSocket: connectSocket, widths: widths,
  };
})();
