// Dealer scorecards: one markout curve per dealer, from the numbers the server computed (Chart.js, vendored).
(function () {
  const dataEl = document.getElementById("markout-data");
  const canvas = document.getElementById("markout-chart");
  if (!dataEl || !canvas || typeof window.Chart !== "function") return;
  const data = JSON.parse(dataEl.textContent);
  Desk.chartTheme("#8a96a3");
  window.markoutChart = new Chart(canvas, {
    type: "line",
    data: {
      labels: data.horizons.map(function (h) { return h + " s"; }),
      datasets: data.dealers.map(function (d, i) {
        return {label: d.dealer, data: d.bps, borderColor: Desk.PALETTE[i % Desk.PALETTE.length], spanGaps: true};
      }),
    },
    options: {animation: false, maintainAspectRatio: false,
              scales: {y: {title: {display: true, text: "bps against the desk"}}}},
  });
})();
