// The quote board: the RFQ and its quotes come from the desk API, which says of each quote its state (live, expired,
// not_taken, or its status), whether it may be accepted and whether it is the best; every event about this RFQ (and
// every reconnection) reloads them, and a one-second timer runs the countdowns. A live quote whose time runs out
// between two loads shows expired at once, loses its best badge and its Accept button, and the RFQ is reloaded (so
// the server names the new best and the recommendation panel asks again).
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
  let expiryTimer = null;
  const expiredSeen = new Set();  // quotes whose expiry this page already reacted to

  const el = Desk.el, fmt = Desk.fmt;

  function secondsLeft(iso) {
    return (Date.parse(iso) - Date.now()) / 1000;
  }

  function countdownText(iso) {
    const s = Math.floor(secondsLeft(iso));
    if (s <= 0) return "expired";
    const m = Math.floor(s / 60);
    return m > 0 ? m + "m " + String(s % 60).padStart(2, "0") + "s" : s + "s";
  }

  // What the server said of the quote, unless its time ran out since: then it is expired here too.
  function shownState(quote) {
    return quote.state === "live" && secondsLeft(quote.valid_until) <= 0 ? "expired" : quote.state;
  }

  // The server names the best quote (the best acceptable one); an expired quote is never best.
  function bestQuoteId() {
    if (OPEN.indexOf(rfq.status) < 0) return null;
    const best = rfq.quotes.find(function (quote) { return quote.best && shownState(quote) === "live"; });
    return best ? best.id : null;
  }

  // When a live quote's time runs out: show it expired now, and reload the RFQ (once per quote).
  function expireDue() {
    if (!rfq) return;
    const due = rfq.quotes.filter(function (quote) {
      return quote.state === "live" && secondsLeft(quote.valid_until) <= 0 && !expiredSeen.has(quote.id);
    });
    if (due.length === 0) return;
    due.forEach(function (quote) { expiredSeen.add(quote.id); });
    render();
    load();
  }

  function expiryWatch() {
    clearTimeout(expiryTimer);
    const next = rfq.quotes
      .filter(function (quote) { return quote.state === "live" && !expiredSeen.has(quote.id); })
      .map(function (quote) { return secondsLeft(quote.valid_until); })
      .sort(function (a, b) { return a - b; })[0];
    if (next !== undefined) expiryTimer = setTimeout(expireDue, Math.max(0, 1000 * next) + 20);
  }

  function legPrices(quote, field) {
    return quote.legs.map(function (leg) { return fmt(leg[field]); }).join(" / ");
  }

  // A package is read as one price; its legs' bids and offers are there on demand (hover or focus).
  function priceCell(quote, field) {
    if (quote.legs.length < 2) return el("td", legPrices(quote, field), "num");
    const cell = el("td", "per leg", "num muted per-leg");
    cell.tabIndex = 0;
    cell.title = quote.legs.map(function (leg) { return "leg " + leg.leg_no + ": " + fmt(leg[field]); }).join("\n");
    return cell;
  }

  function packageCell(quote) {
    if (quote.package_price === null || quote.package_price === undefined) return el("td", Desk.DASH, "num");
    const value = Number(quote.package_price);
    const text = (value < 0 ? "receive " : "pay ") + Desk.money(Math.abs(value), 2);
    return el("td", text, "num package");
  }

  function render() {
    statusEl.textContent = rfq.status;
    const reasonEl = document.getElementById("rfq-close-reason");
    reasonEl.textContent = rfq.close_reason || "";
    reasonEl.hidden = !rfq.close_reason;
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
    expiryWatch();
    rfq.quotes.forEach(function (quote) {
      const state = shownState(quote);
      const row = el("tr");
      row.dataset.quote = quote.id;
      row.dataset.dealer = quote.dealer;
      row.dataset.status = state;
      if (quote.id === best) row.classList.add("best");
      const dealer = el("td", quote.dealer);
      if (quote.id === best) dealer.append(" ", el("span", "best", "badge"));
      // Only a live quote counts down; an expired, taken or not taken one shows its state instead.
      const expiry = el("td", state === "live" ? countdownText(quote.valid_until) : "—", "num countdown");
      if (state === "live") expiry.dataset.until = quote.valid_until;
      const action = el("td");
      if (canAccept && open && quote.acceptable && state === "live") {
        const button = el("button", "Accept", "accept");
        button.type = "button";
        button.addEventListener("click", function () { accept(quote, button); });
        action.append(button);
      }
      row.append(
        dealer,
        el("td", quote.quote_id, "muted"),
        el("td", quote.firmness),
        priceCell(quote, "bid_price"),
        priceCell(quote, "offer_price"),
        packageCell(quote),
        expiry,
        el("td", state.replace("_", " "), "status " + state),
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
    expireDue();
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
