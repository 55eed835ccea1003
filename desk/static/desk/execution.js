// Execution pages. The list moves each plan's progress bar on its plan.progress events; the plan page reloads
// its live part (progress, children, fills, chart data) from the server on each event of its plan, and both
// catch up on every (re)connection of the socket. The server computes every number; this file only shows them.
(function () {
  const MUTED = Desk.cssColour("--muted", "#8a96a3"), ACCENT = Desk.cssColour("--accent", "#4ea1ff");
  const BUY = Desk.cssColour("--buy", "#3fb68b");

  // Several events in a burst (one per fill) make one request.
  const refresh = Desk.oncePerBurst(function (ids) {
    const live = document.getElementById("plan-live");
    const url = live ? live.dataset.url : location.pathname + location.search;
    Desk.fetchPage(url).then(function (doc) {
      if (!doc) return;
      ids.forEach(function (id) {
        const fresh = doc.getElementById(id);
        const current = document.getElementById(id);
        if (!fresh || !current) return;
        // Never wipe what the user is typing (the reason of a pause or cancel).
        if (current.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
        const typed = current.querySelector("input[name=reason]");
        if (typed && typed.value) return;
        // Keep a refusal on screen until the user acts again.
        if (current.querySelector(".error")) return;
        current.replaceWith(fresh);
      });
      if (ids.indexOf("plan-live") >= 0) draw();
    });
  }, 150);

  // --- the list ------------------------------------------------------------------------------------------------
  function listEvent(payload) {
    const row = document.querySelector("#plans tr[data-plan='" + payload.plan + "']");
    if (!row) { refresh(["plans-live"]); return; }
    const quantity = Number(payload.quantity), filled = Number(payload.filled_quantity);
    const pct = quantity > 0 ? Math.min(100, filled / quantity * 100) : 0;
    const bar = row.querySelector(".progress");
    bar.className = "progress " + payload.status;
    bar.setAttribute("aria-valuenow", pct.toFixed(0));
    bar.querySelector("span").style.width = pct.toFixed(1) + "%";
    row.querySelector(".filled").textContent = String(payload.filled_quantity);
    const status = row.querySelector(".plan-status");
    status.textContent = payload.status;
    status.className = "plan-status " + payload.status;
    row.dataset.status = payload.status;
  }

  // --- one plan ------------------------------------------------------------------------------------------------
  let chart = null;

  function draw() {
    const dataEl = document.getElementById("plan-chart-data");
    const canvas = document.getElementById("plan-chart");
    if (!dataEl || !canvas || typeof window.Chart !== "function") return;
    const data = JSON.parse(dataEl.textContent);
    const datasets = [
      {type: "line", label: "schedule (cumulative)", data: data.schedule, stepped: "before", borderColor: MUTED,
       borderDash: [5, 4], pointRadius: 0, yAxisID: "y"},
      {type: "line", label: "filled (cumulative)", data: data.filled, stepped: "before", borderColor: BUY,
       pointRadius: 2, yAxisID: "y"},
      {type: "bar", label: "expected market volume per bin", data: data.market, backgroundColor: "rgba(78,161,255,.25)",
       borderColor: ACCENT, yAxisID: "market"},
    ];
    if (chart && chart.canvas === canvas) {
      chart.data.datasets.forEach(function (set, i) { set.data = datasets[i].data; });
      chart.update("none");
      return;
    }
    if (chart) chart.destroy();
    Desk.chartTheme(MUTED);
    chart = new Chart(canvas, {
      data: {datasets: datasets},
      options: {
        animation: false, maintainAspectRatio: false, parsing: true,
        scales: {
          x: {type: "linear", title: {display: true, text: "seconds from the plan's start"}},
          y: {beginAtZero: true, suggestedMax: data.quantity, title: {display: true, text: "contracts (plan)"}},
          market: {position: "right", beginAtZero: true, grid: {drawOnChartArea: false},
                   title: {display: true, text: "contracts (market)"}},
        },
      },
    });
    window.planChart = chart;
  }

  const live = document.getElementById("plan-live");
  const planId = live ? live.dataset.plan : null;
  if (live) draw();

  Desk.connectSocket({
    stateEl: document.getElementById("ws-state"),
    onOpen: function () { refresh(planId ? ["plan-live", "plan-steer"] : ["plans-live"]); },
    onEvent: function (event, payload) {
      if (event === "risk.alert" && planId && String(payload.plan) === planId) { refresh(["plan-live", "plan-steer"]); return; }
      if (event === "risk.kill_switch") { refresh(planId ? ["plan-live", "plan-steer"] : ["plans-live"]); return; }
      if (event !== "plan.progress") return;
      if (planId) {
        if (String(payload.plan) === planId) refresh(["plan-live", "plan-steer"]);
      } else {
        listEvent(payload);
      }
    },
  });
})();
