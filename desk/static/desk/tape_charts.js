// The tape's charts on the TCA page: dealer markout curves and the schedule against market volume (Chart.js).
(function () {
  "use strict";
  const dataEl = document.getElementById("tca-chart-data");
  if (!dataEl || typeof Chart === "undefined") { return; }
  const data = JSON.parse(dataEl.textContent);
  const markoutCanvas = document.getElementById("markout-chart");
  if (markoutCanvas && data.markouts) {
    new Chart(markoutCanvas, {
      type: "line",
      data: {
        labels: data.markouts.horizons_s.map(function (h) { return h < 60 ? h + " s" : (h / 60) + " min"; }),
        datasets: data.markouts.dealers.map(function (d) {
          return { label: d.dealer + " (" + d.fills + ")", data: d.markout_bps, spanGaps: false };
        }),
      },
      options: { maintainAspectRatio: false, scales: { y: { title: { display: true, text: "bps" } } } },
    });
  }
  const scheduleCanvas = document.getElementById("schedule-chart");
  if (scheduleCanvas && data.schedule) {
    new Chart(scheduleCanvas, {
      data: {
        labels: data.schedule.labels.map(function (t) { return t.slice(11, 19); }),
        datasets: [
          { type: "bar", label: "market volume", data: data.schedule.market_volume, yAxisID: "y" },
          { type: "bar", label: "desk fills", data: data.schedule.desk_quantity, yAxisID: "y" },
          { type: "line", label: "participation", data: data.schedule.participation, yAxisID: "p", spanGaps: true },
        ],
      },
      options: {
        maintainAspectRatio: false,
        scales: {
          y: { title: { display: true, text: "contracts" } },
          p: { position: "right", min: 0, title: { display: true, text: "share of volume" }, grid: { drawOnChartArea: false } },
        },
      },
    });
  }
})();
