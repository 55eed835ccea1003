// Positions and P&L: the page re-renders itself from the server every few seconds (marks move with the market),
// and the day's P&L parts are drawn per underlying as grouped bars (Chart.js, vendored).
(function () {
  const live = document.getElementById("positions-live");
  if (!live) return;
  let chart = null;

  function drawChart() {
    const dataEl = document.getElementById("pnl-data");
    const canvas = document.getElementById("pnl-chart");
    if (chart) { chart.destroy(); chart = null; }
    if (!dataEl || !canvas || typeof window.Chart !== "function") return;
    const data = JSON.parse(dataEl.textContent);
    Desk.chartTheme("#8a96a3");
    chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.underlyings.map(function (u, i) {
          return {label: u.underlying, data: u.values, backgroundColor: Desk.PALETTE[i % Desk.PALETTE.length]};
        }),
      },
      options: {animation: false, maintainAspectRatio: false,
                plugins: {legend: {display: true}},
                scales: {y: {title: {display: true, text: "P&L today, USD (+ a gain)"}}}},
    });
    window.pnlChart = chart;
  }

  function refresh() {
    Desk.fetchPage(location.pathname).then(function (doc) {
      const fresh = doc && doc.getElementById("positions-live");
      const current = document.getElementById("positions-live");
      if (!fresh || !current) return;
      current.replaceWith(fresh);
      drawChart();
    });
  }

  drawChart();
  setInterval(refresh, Number(live.dataset.refreshMs) || 3000);
})();
