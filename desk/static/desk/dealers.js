// Dealer scorecards: one markout curve per dealer, from the numbers the server computed (Chart.js, vendored).
(function () {
  const dataEl = document.getElementById("markout-data");
  const canvas = document.getElementById("markout-chart");
  if (!dataEl || !canvas || typeof window.Chart !== "function") return;
  const data = JSON.parse(dataEl.textContent);
  const PALETTE = ["#4ea1ff", "#d9a400", "#c678dd", "#ff6b6b", "#e5895a", "#8a96a3", "#3fb68b"];
  Chart.defaults.color = "#8a96a3";
  Chart.defaults.borderColor = "#243040";
  window.markoutChart = new Chart(canvas, {
    type: "line",
    data: {
      labels: data.horizons.map(function (h) { return h + " s"; }),
      datasets: data.dealers.map(function (d, i) {
        return {label: d.dealer, data: d.bps, borderColor: PALETTE[i % PALETTE.length], spanGaps: true};
      }),
    },
    options: {animation: false, maintainAspectRatio: false,
              scales: {y: {title: {display: true, text: "bps against the desk"}}}},
  });
})();
