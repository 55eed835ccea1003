// The quote board: the RFQ and its quotes come from the desk API; every event about this RFQ (and every
// reconnection) reloads them, and a one-second timer runs the countdowns.
(function () {
  const board = document.getElementById("board");
  const reference = board.dataset.reference;
  const api = board.dataset.api;
  const canAccept = board.dataset.canAccept === "1";
  const tbody = document.querySelector("#quotes tbody");
  const message = document.getElementById("board-message");
  const statusEl = document.getElementById("rfq-status");
  const countEl = document.getElementById("quote-count");
  const OPEN = ["sent", "quoted"];
  let rfq = null;
  let loading = null;
  let again = false;

  const el = Desk.el, fmt = Desk.fmt;

  function num(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function secondsLeft(iso) {
    return (Date.parse(iso) - Date.now()) / 1000;
  }

  function countdownText(iso) {
    const s = Math.floor(secondsLeft(iso));
    if (s <= 0) return "expired";
    const m = Math.floor(s / 60);
    return m > 0 ? m + "m " + String(s % 60).padStart(2, "0") + "s" : s + "s";
  }

  // The price the desk would trade a quote at, and whether lower is better.
  function tradePrice(quote) {
    if (rfq.legs.length === 1) {
      const side = rfq.legs[0].side;
      const leg = quote.legs[0] || {};
      return side === "buy" ? {price: num(leg.offer_price), lower: true} : {price: num(leg.bid_price), lower: false};
    }
    return {price: num(quote.package_price), lower: true};
  }

  function bestQuoteId() {
    let best = null;
    if (OPEN.indexOf(rfq.status) < 0) return null;
    rfq.quotes.forEach(function (quote) {
      if (quote.status !== "live" || quote.firmness !== "firm" || secondsLeft(quote.valid_until) <= 0) return;
      const trade = tradePrice(quote);
      if (trade.price === null) return;
      if (best === null || (trade.lower ? trade.price < best.price : trade.price > best.price)) {
        best = {id: quote.id, price: trade.price};
      }
    });
    return best ? best.id : null;
  }

  function legPrices(quote, field) {
    return quote.legs.map(function (leg) { return fmt(leg[field]); }).join(" / ");
  }

  function render() {
    statusEl.textContent = rfq.status;
    const expiry = document.getElementById("rfq-expiry");
    if (OPEN.indexOf(rfq.status) < 0) {
      delete expiry.dataset.until;
      expiry.textContent = "—";
      expiry.classList.remove("soon");
    }
    statusEl.className = "status " + rfq.status;
    countEl.textContent = "(" + rfq.quotes.length + ")";
    const best = bestQuoteId();
    const open = OPEN.indexOf(rfq.status) >= 0;
    tbody.replaceChildren();
    if (rfq.quotes.length === 0) {
      const row = el("tr", null, "empty");
      const cell = el("td", "Waiting for quotes…", "muted");
      cell.colSpan = 9;
      row.append(cell);
      tbody.append(row);
      return;
    }
    rfq.quotes.forEach(function (quote) {
      const row = el("tr");
      row.dataset.quote = quote.id;
      row.dataset.dealer = quote.dealer;
      row.dataset.status = quote.status;
      if (quote.id === best) row.classList.add("best");
      const dealer = el("td", quote.dealer);
      if (quote.id === best) dealer.append(" ", el("span", "best", "badge"));
      const expiry = el("td", countdownText(quote.valid_until), "num countdown");
      expiry.dataset.until = quote.valid_until;
      const action = el("td");
      if (canAccept && open && quote.status === "live" && quote.firmness === "firm") {
        const button = el("button", "Accept", "accept");
        button.type = "button";
        button.addEventListener("click", function () { accept(quote, button); });
        action.append(button);
      }
      row.append(
        dealer,
        el("td", quote.quote_id, "muted"),
        el("td", quote.firmness),
        el("td", legPrices(quote, "bid_price"), "num"),
        el("td", legPrices(quote, "offer_price"), "num"),
        el("td", fmt(quote.package_price), "num"),
        expiry,
        el("td", quote.status, "status " + quote.status),
        action
      );
      tbody.append(row);
    });
  }

  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (node) {
      if (!node.dataset.until) return;
      node.textContent = countdownText(node.dataset.until);
      node.classList.toggle("soon", secondsLeft(node.dataset.until) < 10);
    });
    if (rfq) {
      const best = bestQuoteId();
      document.querySelectorAll("#quotes tbody tr[data-quote]").forEach(function (row) {
        row.classList.toggle("best", Number(row.dataset.quote) === best);
      });
    }
  }

  // One request at a time; an event that arrives meanwhile asks for one more load after it.
  function load() {
    if (loading) { again = true; return loading; }
    loading = Desk.call(api, {headers: {"Accept": "application/json"}}, function (body, status) {
      return "the RFQ could not be loaded (" + status + ")";
    })
      .then(function (data) {
        rfq = data;
        render();
        // The recommendation panel (board.js) follows the RFQ as this page loads it.
        document.dispatchEvent(new CustomEvent("desk:rfq", {detail: data}));
      })
      .catch(function (error) { Desk.showMessage(message, error.message, "error"); })
      .finally(function () {
        loading = null;
        if (again) { again = false; load(); }
      });
    return loading;
  }

  function accept(quote, button) {
    button.disabled = true;
    Desk.call("/api/v1/quotes/" + quote.id + "/accept/", {
      method: "POST",
      headers: {"X-CSRFToken": Desk.csrf(), "Accept": "application/json"},
    }, function (body) {
      const refusal = body || {};
      return refusal.detail || JSON.stringify(refusal);
    })
      .then(function (answer) {
        const order = answer || {};
        Desk.showMessage(message, "Accepted " + quote.dealer + " " + quote.quote_id + ": order " + order.cl_ord_id + " " +
          order.side + " " + fmt(order.quantity) + " at " + fmt(order.price) + " sent to the dealer.", "ok");
      })
      .catch(function (error) {
        const why = error.status ? "Not accepted (" + error.status + "): " : "Not accepted: ";
        Desk.showMessage(message, why + error.message, "error");
        button.disabled = false;
      })
      .finally(load);
  }

  Desk.connectSocket({
    stateEl: document.getElementById("ws-state"),
    onOpen: load,
    onEvent: function (event, payload) {
      if (event === "market" || event === "heartbeat" || event === "hello") return;
      if ((payload && payload.rfq === reference) || event === "quotes.cancelled" || event === "fill") load();
    },
  });
  setInterval(tick, 1000);
  tick();
})();
