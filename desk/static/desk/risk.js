// Risk page: confirm before engaging a kill switch; reload the switches, gauges and market health when one
// changes (and on every reconnection, to catch up on what happened while the socket was down); list alerts,
// kill-switch changes, circuit breakers, market-health changes and refused orders as they arrive.
(function () {
  const form = document.getElementById("engage-form");
  const dialog = document.getElementById("engage-confirm");
  if (form && dialog) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "1") return;
      // "Reduce only" posts to its own view: it halts nothing, so it needs no confirmation (and must not be
      // turned into an engage by the dialog's re-submit).
      if (event.submitter && event.submitter.id === "reduce") return;
      event.preventDefault();
      // The server refuses a switch without a reason: say so here, before asking to confirm.
      const reason = form.elements.reason;
      let missing = document.getElementById("engage-reason-missing");
      if (!reason.value.trim()) {
        if (!missing) {
          missing = Desk.el("p", "Reason: say why the switch is engaged", "error");
          missing.id = "engage-reason-missing";
          missing.setAttribute("role", "alert");
          reason.after(missing);
        }
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
        return;
      }
      if (missing) missing.remove();
      reason.removeAttribute("aria-invalid");
      const scope = form.elements.scope.value;
      const key = form.elements.scope_key.value.trim();
      document.getElementById("engage-confirm-text").textContent =
        "Scope: " + scope + (key ? " " + key : "") + ". Reason: " + (form.elements.reason.value.trim() || "(none)");
      dialog.showModal();
    });
    dialog.addEventListener("close", function () {
      if (dialog.returnValue !== "confirm") return;
      form.dataset.confirmed = "1";
      form.requestSubmit();
    });
  }

  const refresh = Desk.oncePerBurst(function () {
    Desk.fetchPage(location.pathname).then(function (doc) {
      if (!doc) return;
      ["risk-live", "alert-history"].forEach(function (id) {
        const fresh = doc.getElementById(id);
        const current = document.getElementById(id);
        // Do not wipe a re-arm reason being typed.
        if (fresh && current && !current.contains(document.activeElement)) current.replaceWith(fresh);
      });
    });
  }, 150);

  const alerts = document.getElementById("alerts-live");
  function describe(event, p) {
    if (event === "risk.kill_switch") {
      return "kill switch " + p.scope + (p.scope_key ? " " + p.scope_key : "") + (p.engaged ? " ENGAGED" : (p.state === "reducing" ? " REDUCING only" : " re-armed")) +
        (p.reason ? ": " + p.reason : "") + (p.halted_plans && p.halted_plans.length ? " (plans halted: " + p.halted_plans.join(", ") + ")" : "");
    }
    if (event === "risk.market_health") {
      return "market " + p.symbol + " " + p.state + (p.previous ? " (was " + p.previous + ")" : "") +
        (p.reason && p.state !== "healthy" ? ": " + p.reason : "") + (p.circuit_breaker ? " — circuit breaker tripped" : "");
    }
    if (event === "risk.refused") return "order refused: " + JSON.stringify(p);
    if (event === "risk.vol_surface") {
      return "vol surface " + p.underlying + " " + p.state + (p.reason ? ": " + p.reason : "") +
        (p.state === "refused" ? (p.kept ? " (surface " + p.kept + " kept)" : " (reference surface kept)") : "");
    }
    if (event === "risk.alert") {
      if (p.acknowledged) return "alert " + p.alert + " acknowledged";
      return "alert [" + p.level + "] " + p.kind + (p.plan ? " plan " + p.plan : "") + ": " + p.message +
        (p.action && p.action !== "none" ? " → " + p.action + (p.action_result ? " (" + p.action_result + ")" : "") : "");
    }
    return event + " " + JSON.stringify(p);
  }
  function alert(event, payload) {
    const item = document.createElement("li");
    item.dataset.event = event;
    if (payload && (payload.engaged || payload.state === "halted" || payload.state === "refused" || (event === "risk.alert" && payload.level === "action" && !payload.acknowledged))) item.className = "error";
    item.textContent = new Date().toISOString().slice(11, 19) + "  " + describe(event, payload || {});
    alerts.prepend(item);
    while (alerts.children.length > 100) alerts.lastChild.remove();
  }

  function healthRow(p) {
    const row = document.querySelector("#market-health tr[data-underlying='" + p.symbol + "']");
    if (!row) { refresh(); return; }
    const cell = row.querySelector(".health");
    cell.textContent = p.state;
    cell.className = "health " + p.state;
    row.querySelector(".reason").textContent = p.state === "healthy" ? "" : (p.reason || "");
  }

  Desk.connectSocket({
    stateEl: document.getElementById("ws-state"),
    onOpen: refresh,
    onEvent: function (event, payload) {
      if (event.indexOf("risk.") !== 0) return;
      alert(event, payload);
      if (event === "risk.market_health") healthRow(payload);
      if (event === "risk.kill_switch" || event === "risk.limit" || event === "risk.alert") refresh();
    },
  });
})();
