// Time-series charts on uPlot (vendored, loaded as the global `uPlot`), in the browser's time zone.
import { h } from "./view.js";

const COLORS = ["#1f4e8c", "#b3261e", "#137333", "#8430ce", "#b06000", "#0b6e6e"];
const charts = new Set();

// A figure with one chart. points: [{ time: ISO string, ... }]; series: [{ label, value: p =>
// number|null, format: n => string }]. Its `data-points` says how many points were drawn.
export function timeChart(title, points, series) {
  const figure = h("figure", { class: "chart" }, h("figcaption", {}, title));
  const box = h("div", { class: "plot" });
  figure.append(box);
  if (points.length === 0) {
    box.append(h("p", { class: "state empty", role: "status" }, "No data in this range."));
    figure.dataset.points = "0";
    return figure;
  }
  const data = [points.map((p) => Date.parse(p.time) / 1000), ...series.map((s) => points.map(s.value))];
  const options = {
    width: 480,
    height: 220,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        points: { show: points.length < 60 },
        value: (u, v) => (v === null || v === undefined ? "—" : s.format(v)),
      })),
    ],
    axes: [{}, { values: (u, ticks) => ticks.map((t) => series[0].format(t)), size: 70 }],
    hooks: {
      draw: [
        (u) => {
          figure.dataset.points = String(u.data[0].length);
        },
      ],
    },
  };
  // Created once the figure is in the document, at the width it gets there.
  queueMicrotask(() => {
    const plot = new uPlot({ ...options, width: Math.max(box.clientWidth, 280) }, data, box);
    charts.add(plot);
    figure.plot = plot;
  });
  return figure;
}

// Charts are destroyed when their page is left.
export function destroyCharts() {
  for (const plot of charts) plot.destroy();
  charts.clear();
}

let resizeTimer = 0;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const plot of charts) {
      const width = plot.root.parentElement?.clientWidth;
      if (width) plot.setSize({ width: Math.max(width, 280), height: 220 });
    }
  }, 150);
});
