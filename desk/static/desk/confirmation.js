// The board's trade confirmation and the trader's actions on an open RFQ. The confirmation follows the RFQ as the
// board loads it (the "desk:rfq" event): once something is filled it shows, per leg, what was filled at what price,
// the notional, fees and slippage against arrival, and the trade against the desk's own estimate.
(function () {
  const card = document.getElementById("confirmation");
  const board = document.getElementById("board");
  if (!card || !board) return;
  const message = document.getElementById("board-message");
  const reference = board.dataset.reference;
  const OPEN = ["sent", "quoted"];

  function signedBps(value) {
    if (value === null || value === undefined) return Desk.DASH;
    return (value > 0 ? "+" : "") + Desk.bps(value);
  }

  function render(c) {
    const tbody = card.querySelector("tbody");
    tbody.replaceChildren();
    c.legs.forEach(function (leg) {
      const row = Desk.el("tr");
      row.dataset.leg = leg.leg_no;
      const by = [];
      if (leg.from_dealers) by.push(Desk.fmt(leg.from_dealers) + " dealer");
      if (leg.from_algorithms) by.push(Desk.fmt(leg.from_algorithms) + " algorithms");
      row.append(
        Desk.el("td", leg.leg_no),
        Desk.el("td", leg.instrument),
        Desk.el("td", leg.side, leg.side),
        Desk.el("td", Desk.fmt(leg.filled) + " / " + Desk.fmt(leg.ordered), "num filled"),
        Desk.el("td", leg.average_price === null ? Desk.DASH : Desk.money(leg.average_price, 2), "num price"),
        Desk.el("td", leg.notional === null ? Desk.DASH : Desk.money(leg.notional, 2), "num notional"),
        Desk.el("td", Desk.money(leg.fees, 2), "num"),
        Desk.el("td", leg.arrival_mid === null ? Desk.DASH : Desk.money(leg.arrival_mid, 2), "num"),
        Desk.el("td", signedBps(leg.slippage_bps), "num slippage"),
        Desk.el("td", by.join(", ") || Desk.DASH)
      );
      tbody.append(row);
    });
    const t = c.total;
    let text = "Notional " + Desk.money(t.notional, 2) + " USD, fees " + Desk.money(t.fees, 2) + " USD; slippage against arrival " +
      signedBps(t.slippage_bps) + " bps";
    if (c.estimate_bps !== null) {
      text += " (the desk expected " + Desk.bps(c.estimate_bps) + " bps when it sent the RFQ: " + signedBps(t.vs_estimate_bps) + " bps against it)";
    }
    document.getElementById("confirmation-total").textContent = text + ".";
    card.hidden = false;
  }

  // Asked again at every load of a closed RFQ: a dealer's fill arrives after the accept, an algorithm's later still.
  function load(rfq) {
    if (OPEN.indexOf(rfq.status) >= 0) return;
    Desk.call(card.dataset.api, {headers: {"Accept": "application/json"}}).then(function (c) {
      if (c && c.filled) render(c);
    }).catch(function () { /* the board shows its own errors; a confirmation comes with the next load */ });
  }

  document.addEventListener("desk:rfq", function (event) {
    const rfq = event.detail;
    const actions = document.getElementById("rfq-actions");
    if (actions) actions.hidden = OPEN.indexOf(rfq.status) < 0;
    load(rfq);
  });

  function act(path, body, done) {
    return Desk.call("/api/v1/rfqs/" + reference + "/" + path + "/", {
      method: "POST",
      headers: {"X-CSRFToken": Desk.csrf(), "Accept": "application/json", "Content-Type": "application/json"},
      body: JSON.stringify(body || {}),
    }, function (refusal) { return (refusal && refusal.detail) || JSON.stringify(refusal); })
      .then(function (answer) { Desk.showMessage(message, done(answer), "ok"); })
      .catch(function (error) { Desk.showMessage(message, error.message, "error"); });
  }

  const cancel = document.getElementById("cancel-rfq");
  if (cancel) {
    cancel.addEventListener("click", function () {
      if (!window.confirm("Cancel " + reference + "? Its quotes can no longer be taken.")) return;
      cancel.disabled = true;
      act("cancel", {reason: "by the trader"}, function (answer) { return answer.rfq + " cancelled."; })
        .finally(function () { cancel.disabled = false; });
    });
  }
  const more = document.getElementById("ask-more");
  if (more) {
    more.addEventListener("click", function () {
      more.disabled = true;
      act("ask-more", {}, function (answer) { return "Asked " + answer.dealers.join(", ") + "."; })
        .finally(function () { more.disabled = false; });
    });
  }
})();
