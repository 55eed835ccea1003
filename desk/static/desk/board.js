// The quote board's recommendation panel: whenever the RFQ's quotes change - one arrives, expires, is withdrawn or
// taken (rfq_board.js loads the RFQ on every websocket event and when a quote's time runs out, and tells us with a
// "desk:rfq" event) - ask the engine again (GET .../recommendation/) and show its action, fills, cost parts and
// explanation. A "wait" is asked again at its horizon (the server then decides afresh), and any advice at least
// every REFRESH_MS while the RFQ is open (the dealers' silence changes it). "Accept / Split as recommended" post the
// stored decision to the page's act view (CSRF, role checked on the server); "Wait" shows the countdown to the
// re-evaluation. In automatic mode the panel also lists what the desk did itself, and what it left to the trader
// (beyond the limits).
(function () {
  const panel = document.getElementById("recommendation");
  if (!panel) return;
  const api = panel.dataset.api;
  const auto = panel.dataset.mode === "auto";
  const OPEN = ["sent", "quoted"];
  const PARTS = ["price", "certainty", "leakage", "delay", "algo", "total"];
  // Plain words on the board, the model's term and what it means in the tooltip.
  const PART_WORDS = {
    price: ["Price", "price: the quotes' distance from the mark"],
    certainty: ["Fill risk", "certainty: what a last-look reject would cost (a re-quote), times its probability"],
    leakage: ["Information leakage", "leakage: the market moving on what the dealers asked learn"],
    delay: ["Waiting", "delay: the risk of the market moving while the desk waits"],
    algo: ["Working the rest", "algo: the expected cost of the part sent to the algorithms"],
    total: ["Total", "the sum of the parts"],
  };
  // The server stores a new decision only when the book changed or a wait's horizon passed: the floor only keeps a
  // burst of re-asks down.
  const MIN_WAIT_MS = 250;
  const REFRESH_MS = 10000;
  const ACTIONS = {accept: "Accept now", split: "Split", wait: "Wait"};
  const stateEl = document.getElementById("rec-state");
  const body = document.getElementById("rec-body");
  const form = document.getElementById("rec-form");
  const message = document.getElementById("rec-message");
  const countdown = document.getElementById("rec-countdown");
  let signature = null;
  let lastRfq = null;
  let status = null;
  let timer = null;
  let waitUntil = null;
  let waiting = false;  // the trader pressed "Wait": keep the countdown shown while the desk says wait
  let loading = false;
  let again = false;

  const el = Desk.el, bps = Desk.bps;

  function setState(text) {
    stateEl.textContent = text;
    stateEl.hidden = !text;
  }

  function renderCosts(costs) {
    const tbody = document.querySelector("#rec-costs tbody");
    tbody.replaceChildren();
    const scale = Math.max.apply(null, PARTS.map(function (p) { return Math.abs(Number(costs[p] || 0)); }).concat([1e-9]));
    PARTS.forEach(function (part) {
      if (!(part in costs)) return;
      const value = Number(costs[part]);
      const row = el("tr", null, part === "total" ? "total" : "");
      row.dataset.part = part;
      const bar = el("div", null, "bar" + (value < 0 ? " neg" : ""));
      bar.style.width = (100 * Math.abs(value) / scale).toFixed(1) + "%";
      const cell = el("td", null, "bar-cell");
      cell.append(bar);
      const words = PART_WORDS[part] || [part, part];
      const name = el("td", words[0]);
      name.title = words[1];
      row.append(name, el("td", bps(value), "num"), cell);
      tbody.append(row);
    });
  }

  // A fill names the quote by its id on the desk: show the dealer's own quote id, as the quotes table does.
  function quoteName(id) {
    if (id === null || id === undefined) return "—";
    const quote = lastRfq && lastRfq.quotes.find(function (q) { return q.id === id; });
    return quote ? quote.quote_id : "#" + id;
  }

  function renderFills(data) {
    const tbody = document.querySelector("#rec-fills tbody");
    tbody.replaceChildren();
    // Number() first: a missing quantity shows as Number() makes it ("0"), never the dash, as it always has.
    data.fills.forEach(function (fill) {
      const row = el("tr");
      row.dataset.dealer = fill[0];
      row.append(el("td", fill[0]), el("td", Desk.fmt(Number(fill[1])), "num"),
        el("td", quoteName(fill[2]), "muted"));
      tbody.append(row);
    });
    if (data.fills.length === 0) {
      const row = el("tr", null, "empty");
      const cell = el("td", "none now", "muted");
      cell.colSpan = 3;
      row.append(cell);
      tbody.append(row);
    }
    const algo = document.getElementById("rec-algo");
    algo.hidden = !(data.algo_quantity > 0);
    algo.textContent = "To the algorithms: " + Desk.fmt(Number(data.algo_quantity));
  }

  function renderAlternatives(alternatives) {
    const parts = Object.keys(alternatives || {}).map(function (name) { return name + " " + bps(alternatives[name]); });
    document.getElementById("rec-alternatives").textContent = parts.length ? "Totals considered (bps): " + parts.join(", ") : "";
  }

  function buttons(data) {
    if (!form) return;
    const open = OPEN.indexOf(status) >= 0;
    document.getElementById("rec-decision").value = data.decision_id || "";
    document.getElementById("rec-accept").hidden = !(open && data.action === "accept");
    document.getElementById("rec-split").hidden = !(open && data.action === "split");
    document.getElementById("rec-wait").hidden = !(open && data.action === "wait");
    Array.from(form.querySelectorAll("button")).forEach(function (b) { b.disabled = false; });
  }

  function render(data) {
    panel.dataset.action = data.action;
    panel.dataset.decision = data.decision_id || "";
    document.getElementById("rec-action").textContent = ACTIONS[data.action] || data.action;
    document.getElementById("rec-action").className = "rec-action " + data.action;
    document.getElementById("rec-gain").textContent = data.action === "wait"
      ? "expected gain of waiting " + bps(data.expected_gain_bps) + " bps over " + Number(data.wait_s).toFixed(1) + " s"
      : "expected gain of waiting " + bps(data.expected_gain_bps) + " bps";
    document.getElementById("rec-explanation").textContent = data.explanation;
    renderFills(data);
    renderCosts(data.costs);
    renderAlternatives(data.alternatives);
    buttons(data);
    setState("");
    body.hidden = false;
    clearTimeout(timer);
    waitUntil = null;
    if (data.action !== "wait") waiting = false;
    countdown.hidden = !waiting;
    if (OPEN.indexOf(status) < 0) return;
    if (data.action === "wait") {
      // Re-evaluate when the wait is over, even without a new quote: the seconds left to the horizon come from the
      // server (a stored wait may be part-way through).
      const left = data.wait_left_s === null || data.wait_left_s === undefined ? data.wait_s : data.wait_left_s;
      const delay = Math.max(MIN_WAIT_MS, 1000 * Number(left));
      waitUntil = Date.now() + delay;
      timer = setTimeout(load, delay);
    } else {
      timer = setTimeout(load, REFRESH_MS);
    }
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    // The recommendation API answers a refusal with {"detail": ...}; only that is shown.
    Desk.call(api, {headers: {"Accept": "application/json"}}, function (data, status) {
      return (data && data.detail) || ("error " + status);
    })
      .then(render)
      .catch(function (error) { setState("No recommendation: " + error.message); })
      .finally(function () {
        loading = false;
        if (again) { again = false; load(); }
      });
  }

  function refreshAuto() {
    const target = document.getElementById("auto-actions");
    if (!target) return;
    Desk.fetchPage(panel.dataset.autoUrl).then(function (doc) {
      const fresh = doc && doc.getElementById("auto-actions");
      if (fresh) target.replaceWith(fresh);
    });
  }

  document.addEventListener("desk:rfq", function (event) {
    const rfq = event.detail;
    lastRfq = rfq;
    // In automatic mode what the desk did (or left to the trader) may change without a quote changing.
    if (auto) refreshAuto();
    const next = rfq.status + "|" + rfq.quotes.map(function (q) { return q.id + ":" + q.state; }).join(",");
    if (next === signature) return;
    signature = next;
    status = rfq.status;
    if (OPEN.indexOf(rfq.status) < 0) {
      clearTimeout(timer);
      countdown.hidden = true;
      setState("The RFQ is " + rfq.status + ": nothing more to decide.");
      // The advice is over: an "Accept now" left on screen after the accept would mislead.
      body.hidden = true;
      if (form) Array.from(form.querySelectorAll("button")).forEach(function (b) { b.hidden = true; });
      return;
    }
    if (rfq.quotes.length === 0) { setState("Waiting for quotes to recommend on…"); return; }
    load();
  });

  if (form) {
    document.getElementById("rec-wait").addEventListener("click", function () {
      waiting = true;
      countdown.hidden = false;
      tick();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      Array.from(form.querySelectorAll("button")).forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": Desk.csrf()},
        body: new FormData(form),
      })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            if (response.status === 201) {
              Desk.showMessage(message, data.message, "ok");
            } else {
              const detail = data.detail || data.decision_id || ("error " + response.status);
              Desk.showMessage(message, "Not carried out (" + response.status + "): " + detail, "error");
              Array.from(form.querySelectorAll("button")).forEach(function (b) { b.disabled = false; });
            }
          });
        })
        .catch(function (error) {
          Desk.showMessage(message, "Not carried out: " + error.message, "error");
          Array.from(form.querySelectorAll("button")).forEach(function (b) { b.disabled = false; });
        });
    });
  }

  function tick() {
    if (waitUntil === null) { countdown.textContent = ""; return; }
    const left = Math.max(0, (waitUntil - Date.now()) / 1000);
    countdown.textContent = "re-evaluated in " + left.toFixed(1) + " s";
  }
  setInterval(tick, 500);
})();
