// The TCA page: the cost waterfall and the cost by group from the report's numbers (Chart.js, served from
// desk/static/desk/vendor), and the pre-trade estimator, which asks /api/v1/tca/pretrade/ and shows RFQ now,
// the algorithm and a split side by side. The server computes every number; this file only draws them.
(function () {
  const FG = Desk.cssColour("--fg", "#e6e9ec"), MUTED = Desk.cssColour("--muted", "#8a96a3");
  const BUY = Desk.cssColour("--buy", "#3fb68b"), SELL = Desk.cssColour("--sell", "#ff6b6b");
  const ACCENT = Desk.cssColour("--accent", "#4ea1ff");
  const hasChart = typeof window.Chart === "function";
  if (hasChart) Desk.chartTheme(MUTED);

  const money = Desk.money;
  // The TCA page never showed a dash for a missing figure (the report always carries them): Number() as before.
  const BPS = {missing: null};

  // --- post-trade charts ---------------------------------------------------------------------------------------
  const dataEl = document.getElementById("tca-chart-data");
  const data = dataEl ? JSON.parse(dataEl.textContent) : null;

  function waterfall(canvas, chartData) {
    // Floating bars: each part runs from the running total before it to the one after; the total from zero.
    let running = 0;
    const bars = chartData.labels.map(function (label, i) {
      const value = chartData.values[i];
      if (label === "total") return [0, value];
      const bar = [running, running + value];
      running += value;
      return bar;
    });
    const colours = chartData.labels.map(function (label, i) {
      if (label === "total") return ACCENT;
      return chartData.values[i] >= 0 ? SELL : BUY;
    });
    return new Chart(canvas, {
      type: "bar",
      data: {labels: chartData.labels, datasets: [{label: chartData.currency || "cost", data: bars, backgroundColor: colours}]},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {
          legend: {display: false},
          tooltip: {callbacks: {label: function (ctx) {
            return ctx.label + ": " + money(chartData.values[ctx.dataIndex]) + " " + (chartData.currency || "");
          }}},
        },
        scales: {y: {title: {display: true, text: chartData.currency || "cost"}}},
      },
    });
  }

  function byGroup(canvas, chartData) {
    const datasets = Object.keys(chartData.parts).map(function (name, i) {
      return {label: name, data: chartData.parts[name], backgroundColor: Desk.PALETTE[i % Desk.PALETTE.length]};
    });
    return new Chart(canvas, {
      type: "bar",
      data: {labels: chartData.groups, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {labels: {color: FG}}},
        scales: {x: {stacked: true}, y: {stacked: true}},
      },
    });
  }

  if (data && hasChart) {
    const w = document.getElementById("waterfall-chart");
    if (w) waterfall(w, data.waterfall);
    const g = document.getElementById("group-chart");
    if (g) byGroup(g, data.by_group);
  }

  // --- pre-trade estimator -------------------------------------------------------------------------------------
  const form = document.getElementById("pretrade-form");
  if (!form) return;
  const errorEl = document.getElementById("pretrade-error");
  const resultEl = document.getElementById("pretrade-result");
  let horizonChart = null;

  function horizon(seconds) { return Desk.duration(seconds, "coarse"); }

  function cell(row, text, className) { row.appendChild(Desk.el("td", text, className)); }

  function partsText(parts) {
    return Object.keys(parts).map(function (k) { return k + " " + Desk.bps(parts[k], BPS); }).join(" · ");
  }

  function band(b) { return Desk.bps(b.low_bps, BPS) + " to " + Desk.bps(b.high_bps, BPS) + " (" + Math.round(b.level * 100) + "%)"; }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = false;
    resultEl.hidden = true;
  }

  function render(estimate) {
    errorEl.hidden = true;
    resultEl.hidden = false;
    document.getElementById("pretrade-recommendation").textContent =
      "Recommended: " + estimate.recommended.toUpperCase() + ". " + estimate.reason + ".";
    const paths = document.querySelector("#pretrade-paths tbody");
    paths.replaceChildren();
    estimate.paths.forEach(function (p) {
      const row = document.createElement("tr");
      if (p.name === estimate.recommended) row.className = "best";
      cell(row, p.name);
      cell(row, Desk.bps(p.expected_bps, BPS), "num");
      cell(row, band(p.band), "num");
      cell(row, money(p.expected_cost) + " " + estimate.currency, "num");
      cell(row, horizon(p.horizon_s), "num");
      cell(row, Math.round(p.rfq_share * 100) + "%", "num");
      cell(row, partsText(p.parts), "muted");
      paths.appendChild(row);
    });
    const models = document.querySelector("#pretrade-models tbody");
    models.replaceChildren();
    const sq = estimate.sqrt_law, ac = estimate.almgren_chriss;
    [
      ["square-root law", sq.cost_bps, sq.band, "Y = " + sq.coefficient.toFixed(3) + "; " + partsText(sq.parts)],
      ["Almgren-Chriss", ac.expected_bps, ac.band,
        "horizon " + horizon(ac.horizon_s) + " in " + ac.periods + " periods; std " + Desk.bps(ac.std_bps, BPS) + " bps; " + partsText(ac.parts)],
    ].forEach(function (m) {
      const row = document.createElement("tr");
      cell(row, m[0]);
      cell(row, Desk.bps(m[1], BPS), "num");
      cell(row, band(m[2]), "num");
      cell(row, m[3], "muted");
      models.appendChild(row);
    });
    const impact = estimate.calibration.impact, dealer = estimate.calibration.dealer;
    document.getElementById("pretrade-calibration").textContent =
      "Mid " + money(estimate.market.mid) + ", half spread " + Desk.bps(estimate.market.half_spread_bps, BPS) + " bps, volatility " +
      Math.round(estimate.market.volatility_annual * 100) + "% a year, ADV " + Math.round(estimate.market.adv) + " (" +
      estimate.market.adv_source + "); participation " + (estimate.participation * 100).toFixed(2) + "% of a day. " +
      "Impact: " + impact.note + (impact.is_default ? "" : " (" + impact.window_start + " to " + impact.window_end +
      ", R² " + (impact.r_squared === null ? "n/a" : impact.r_squared.toFixed(2)) + ")") + ". Dealers: " + dealer.note + ".";
    if (!hasChart) return;
    const grid = ac.grid;
    const labels = grid.map(function (g) { return horizon(g.horizon_s); });
    const datasets = [
      {label: "expected (bps)", data: grid.map(function (g) { return g.expected_bps; }), borderColor: ACCENT, backgroundColor: ACCENT},
      {label: "expected + std", data: grid.map(function (g) { return g.expected_bps + g.std_bps; }), borderColor: SELL, borderDash: [4, 4], pointRadius: 0},
      {label: "expected − std", data: grid.map(function (g) { return g.expected_bps - g.std_bps; }), borderColor: BUY, borderDash: [4, 4], pointRadius: 0},
    ];
    if (horizonChart) horizonChart.destroy();
    horizonChart = new Chart(document.getElementById("horizon-chart"), {
      type: "line",
      data: {labels: labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {labels: {color: FG}}, title: {display: true, color: FG, text: "Almgren-Chriss: cost and risk by horizon"}},
        scales: {y: {title: {display: true, text: "bps of notional"}}, x: {title: {display: true, text: "horizon"}}},
      },
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const params = new URLSearchParams(new FormData(form));
    // A refusal lists its fields ("field: problem; ..."); an answer that is not JSON is a failure to fetch.
    Desk.call(form.dataset.api + "?" + params.toString(), {headers: {Accept: "application/json"}}, function (body) {
      return Object.keys(body || {}).map(function (field) {
        const value = body[field];
        return field + ": " + (Array.isArray(value) ? value.join(" ") : value);
      }).join("; ") || "the estimate failed";
    })
      .then(render)
      .catch(function (error) { showError(error.body ? error.message : "the estimate could not be fetched"); });
  });
})();
