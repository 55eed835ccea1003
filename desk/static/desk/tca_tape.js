// The tape's charts on the TCA pages: dealer markout curves and the schedule against market volume (Chart.js).
// Colours from the desk's palette: Chart.js's default near-black lines vanish on the dark theme.
(function () {
  "use strict";
  const dataEl = document.getElementById("tca-chart-data");
  if (!dataEl || typeof Chart === "undefined") { return; }
  const data = JSON.parse(dataEl.textContent);
  const P = Desk.PALETTE;
  Desk.chartTheme("#8a96a3");
  const markoutCanvas = document.getElementById("markout-chart");
  if (markoutCanvas && data.markouts) {
    new Chart(markoutCanvas, {
      type: "line",
      data: {
        labels: data.markouts.horizons_s.map(function (h) { return h < 60 ? h + " s" : (h / 60) + " min"; }),
        datasets: data.markouts.dealers.map(function (d, i) {
          const colour = P[i % P.length];
          return {label: d.dealer + " (" + d.fills + ")", data: d.markout_bps, spanGaps: false,
                  borderColor: colour, backgroundColor: colour};
        }),
      },
      options: {maintainAspectRatio: false, plugins: {legend: {display: true}},
                scales: {x: {title: {display: true, text: "time after the fill"}},
                         y: {title: {display: true, text: "bps (+ the market moved against the desk)"}}}},
    });
  }
  const scheduleCanvas = document.getElementById("schedule-chart");
  if (scheduleCanvas && data.schedule) {
    new Chart(scheduleCanvas, {
      data: {
        labels: data.schedule.labels.map(function (t) { return t.slice(11, 19); }),
        datasets: [
          {type: "bar", label: "market volume", data: data.schedule.market_volume, yAxisID: "y", backgroundColor: P[5]},
          {type: "bar", label: "desk fills", data: data.schedule.desk_quantity, yAxisID: "y", backgroundColor: P[0]},
          {type: "line", label: "participation", data: data.schedule.participation, yAxisID: "p", spanGaps: true,
           borderColor: P[1], backgroundColor: P[1]},
        ],
      },
      options: {
        maintainAspectRatio: false,
        plugins: {legend: {display: true}},
        scales: {
          x: {title: {display: true, text: "time (UTC)"}},
          y: {title: {display: true, text: "contracts"}},
          p: {position: "right", min: 0, title: {display: true, text: "share of volume"}, grid: {drawOnChartArea: false}},
        },
      },
    });
  }
})();
