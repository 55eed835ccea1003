// Risk page: confirm before engaging a kill switch; reload the switches and limits when one changes
// (and on every reconnection, to catch up on what happened while the socket was down).
(function () {
  const form = document.getElementById("engage-form");
  const dialog = document.getElementById("engage-confirm");
  if (form && dialog) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "1") return;
      event.preventDefault();
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

  function refresh() {
    fetch(location.pathname, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("risk-live");
        const current = document.getElementById("risk-live");
        // Do not wipe a re-arm reason being typed.
        if (fresh && current && !current.contains(document.activeElement)) current.replaceWith(fresh);
      });
  }

  window.deskSocket({
    stateEl: document.getElementById("ws-state"),
    onOpen: refresh,
    onEvent: function (event) { if (event === "risk.kill_switch" || event === "risk.limit") refresh(); },
  });
})();
