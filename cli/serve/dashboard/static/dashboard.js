// lakeledger dashboard: the as-of control and the charts. No build step; uPlot is shipped beside it.
"use strict";

(function asOfControl() {
  const slider = document.getElementById("asof-version");
  const value = document.getElementById("asof-value");
  const shown = document.getElementById("asof-shown");
  if (!slider || !value) return;
  slider.addEventListener("input", () => { shown.textContent = "v" + slider.value; });
  const form = document.getElementById("asof");
  // an empty moment means "now": leave it out of the URL rather than sending ?as_of=
  const dropEmpty = () => { if (!value.value.trim()) value.disabled = true; };
  form.addEventListener("submit", dropEmpty);
  slider.addEventListener("change", () => {
    value.value = slider.value === slider.max ? "" : slider.value;
    dropEmpty();
    form.submit();
  });
})();

const PALETTE = ["#2456a6", "#c62828", "#1a7f37", "#b26a00", "#6a3ea1", "#00838f", "#ad1457", "#455a64"];

function drawChart(el) {
  // data-chart: {"title": str, "x": str, "series": [{"label": str, "x": [num], "y": [num]}]}
  const spec = JSON.parse(el.dataset.chart);
  const xs = Array.from(new Set(spec.series.flatMap((s) => s.x))).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = spec.series.map((s) => {
    const ys = new Array(xs.length).fill(null);
    s.x.forEach((x, i) => { ys[index.get(x)] = s.y[i]; });
    return ys;
  });
  const width = Math.max(280, Math.min(el.clientWidth || 900, 1100));
  const opts = {
    title: spec.title,
    width: width,
    height: 260,
    scales: { x: { time: spec.time === true } },
    axes: [{ label: spec.x }, {}],
    series: [{ label: spec.x }].concat(spec.series.map((s, i) => ({
      label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
      points: { show: s.x.length < 60 },
    }))),
  };
  new uPlot(opts, [xs].concat(columns), el);
  el.dataset.drawn = String(spec.series.length);
}

document.querySelectorAll("[data-chart]").forEach(drawChart);
