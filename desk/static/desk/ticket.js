// The RFQ ticket's engine panel: as the legs are typed, ask (debounced) the pre-trade estimate of a single spot or
// perpetual leg (GET /api/v1/tca/pretrade/) and the dealers the desk would ask (POST /api/v1/rfqs/preview/), and
// show them. It also keeps "let the desk choose" and the dealer ticks consistent: ticking a dealer means picking
// them yourself; choosing the desk unticks them. The server decides everything again on send.
(function () {
  const engine = document.getElementById("engine");
  if (!engine) return;
  const form = document.getElementById("rfq-ticket");
  const packageSelect = document.getElementById("id_package_type");
  const rows = Array.from(document.querySelectorAll("#legs tbody tr"));
  const selectionRadios = Array.from(document.querySelectorAll("input[name=selection]"));
  const dealerBoxes = Array.from(document.querySelectorAll("input[name=dealers]"));
  const DELAY_MS = 400;
  let timer = null;
  let generation = 0;

  const el = Desk.el, pct = Desk.pct, duration = Desk.duration, call = Desk.call;
  // The ticket shows a dash for a figure that is not a number, not "NaN".
  const BPS = {nan: Desk.DASH};

  // The legs as typed: visible rows with an instrument, a side and a positive quantity.
  function legs() {
    const out = [];
    rows.forEach(function (row) {
      if (row.hidden) return;
      const instrument = row.querySelector("select[name$='_instrument']");
      const side = row.querySelector("select[name$='_side']").value;
      const ratio = row.querySelector("input[name$='_ratio']").value || "1";
      const quantity = row.querySelector("input[name$='_quantity']").value.trim();
      if (!instrument.value || !side || !(Number(quantity) > 0)) return;
      const option = instrument.options[instrument.selectedIndex];
      out.push({instrument: instrument.value, side: side, ratio: ratio, quantity: quantity,
        kind: option ? option.dataset.kind : ""});
    });
    return out;
  }

  // --- the pre-trade estimate ---------------------------------------------------------------------------------

  const estimateState = document.getElementById("estimate-state");
  const estimateTable = document.getElementById("estimate-paths");
  const estimateRecommended = document.getElementById("estimate-recommended");
  const PATH_NAMES = {rfq: "RFQ now", algo: "Algorithm", split: "Split"};

  function estimateMessage(text) {
    estimateState.textContent = text;
    estimateState.hidden = false;
    estimateTable.hidden = true;
    estimateRecommended.hidden = true;
  }

  function renderEstimate(data) {
    const tbody = estimateTable.querySelector("tbody");
    tbody.replaceChildren();
    data.paths.forEach(function (path) {
      const row = el("tr");
      row.dataset.path = path.name;
      if (path.name === data.recommended) row.classList.add("best");
      const name = el("td", PATH_NAMES[path.name] || path.name);
      if (path.name === "split") name.append(el("span", " (" + (100 * path.rfq_share).toFixed(0) + " % by RFQ)", "muted"));
      if (path.name === data.recommended) name.append(" ", el("span", "recommended", "badge"));
      row.append(
        name,
        el("td", Desk.bps(path.expected_bps, BPS), "num"),
        el("td", Desk.bps(path.band.low_bps, BPS) + " … " + Desk.bps(path.band.high_bps, BPS) + " (" + (100 * path.band.level).toFixed(0) + " %)", "num"),
        el("td", path.name === "rfq" ? "now" : duration(path.horizon_s), "num"),
        el("td", Desk.money(path.expected_cost, 0) + " " + data.currency, "num")
      );
      tbody.append(row);
    });
    estimateState.textContent = "Notional " + Desk.money(data.notional, 0) + " " + data.currency + ", " +
      (100 * data.participation).toFixed(2) + " % of the day's volume; recommended algorithm horizon " +
      duration(data.almgren_chriss.horizon_s) + ".";
    estimateRecommended.textContent = "Recommended: " + (PATH_NAMES[data.recommended] || data.recommended) + ": " + data.reason;
    estimateState.hidden = false;
    estimateTable.hidden = false;
    estimateRecommended.hidden = false;
  }

  function loadEstimate(typed, mine) {
    if (typed.length === 0) { estimateMessage("Choose an instrument, a side and a quantity."); return; }
    if (typed.length !== 1 || (typed[0].kind !== "spot" && typed[0].kind !== "perpetual")) {
      estimateMessage("The pre-trade estimate covers one spot or perpetual leg; the recommendation on the board prices packages and options.");
      return;
    }
    const leg = typed[0];
    estimateState.textContent = "Estimating…";
    const query = new URLSearchParams({instrument: leg.instrument, side: leg.side, quantity: leg.quantity});
    call(engine.dataset.pretrade + "?" + query.toString(), {headers: {"Accept": "application/json"}})
      .then(function (data) { if (mine === generation) renderEstimate(data); })
      .catch(function (error) { if (mine === generation) estimateMessage("No estimate: " + error.message); });
  }

  // --- the dealers the desk would ask ---------------------------------------------------------------------------

  const selectionState = document.getElementById("selection-state");
  const selectionTable = document.getElementById("desk-dealers");
  const selectionModel = document.getElementById("selection-model");
  const selectionCost = document.getElementById("selection-cost");

  function selectionMessage(text) {
    selectionState.textContent = text;
    selectionState.hidden = false;
    selectionTable.hidden = true;
    selectionCost.hidden = true;
  }

  function why(row) {
    const cell = el("td");
    cell.append(el("div", row.reason, row.chosen ? "reason chosen" : "reason muted"));
    const parts = (row.contributions || []).map(function (c) {
      const sign = c.contribution_bps >= 0 ? "+" : "";
      return c.label + " " + sign + Desk.bps(c.contribution_bps, BPS);
    });
    if (parts.length) cell.append(el("div", parts.join(" · "), "contributions muted small"));
    return cell;
  }

  function renderSelection(data) {
    const tbody = selectionTable.querySelector("tbody");
    tbody.replaceChildren();
    const chosenOrder = data.dealers || [];
    const sorted = data.rows.slice().sort(function (a, b) {
      const ia = chosenOrder.indexOf(a.dealer), ib = chosenOrder.indexOf(b.dealer);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
      return b.score_bps - a.score_bps;
    });
    sorted.forEach(function (row) {
      const tr = el("tr", null, row.chosen ? "chosen" : "left-out");
      tr.dataset.dealer = row.dealer;
      tr.dataset.chosen = row.chosen ? "1" : "0";
      const name = el("td", row.dealer);
      if (row.chosen) name.append(" ", el("span", "would ask", "badge"));
      tr.append(
        name,
        el("td", Desk.bps(row.score_bps, BPS), "num score"),
        el("td", pct(row.p_answer), "num"),
        el("td", pct(row.p_fill), "num"),
        why(row)
      );
      tbody.append(tr);
    });
    selectionModel.textContent = data.model_version ? "(model v" + data.model_version + ")" : "(prior, exploring)";
    selectionModel.title = data.model_version
      ? "scores from the live scoring model, version " + data.model_version
      : "no scoring model is live yet: the desk's starting estimates, drawn at random around them so that it learns (exploring)";
    const exploring = data.rows.some(function (row) { return row.explored; });
    selectionState.hidden = true;
    selectionTable.hidden = false;
    selectionCost.textContent = chosenOrder.length
      ? "Asks " + chosenOrder.join(", ") + " (in waves, best first): expected best price net of leakage " +
        Desk.bps(data.expected_cost_bps, BPS) + " bps."
      : "No dealer can be asked now.";
    if (exploring && chosenOrder.length) {
      selectionCost.textContent += " Exploring: the estimates are a sample (the same for these legs for five minutes).";
    }
    selectionCost.hidden = false;
  }

  function loadSelection(typed, mine) {
    if (typed.length === 0) { selectionMessage("Choose the legs to see whom the desk would ask and why."); return; }
    selectionState.textContent = "Scoring the dealers…";
    call(engine.dataset.preview, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": Desk.csrf()},
      body: JSON.stringify({
        package_type: packageSelect.value,
        legs: typed.map(function (leg) {
          return {instrument: leg.instrument, side: leg.side, ratio: Number(leg.ratio), quantity: leg.quantity};
        }),
      }),
    })
      .then(function (data) { if (mine === generation) renderSelection(data); })
      .catch(function (error) { if (mine === generation) selectionMessage("No selection: " + error.message); });
  }

  function refresh() {
    generation += 1;
    const typed = legs();
    loadEstimate(typed, generation);
    loadSelection(typed, generation);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DELAY_MS);
  }

  form.addEventListener("input", function (event) {
    if (event.target.closest("#legs")) schedule();
  });
  form.addEventListener("change", function (event) {
    if (event.target.closest("#legs") || event.target === packageSelect) schedule();
  });

  // --- who picks the dealers ---------------------------------------------------------------------------------

  function selectionValue() {
    const checked = selectionRadios.find(function (r) { return r.checked; });
    return checked ? checked.value : "desk";
  }

  function applySelection() {
    document.getElementById("dealers").classList.toggle("desk-chooses", selectionValue() === "desk");
  }

  dealerBoxes.forEach(function (box) {
    box.addEventListener("change", function () {
      if (!box.checked) return;
      const manual = selectionRadios.find(function (r) { return r.value === "manual"; });
      if (manual) manual.checked = true;
      applySelection();
    });
  });
  selectionRadios.forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked && radio.value === "desk") dealerBoxes.forEach(function (box) { box.checked = false; });
      applySelection();
    });
  });
  applySelection();
  refresh();
})();
