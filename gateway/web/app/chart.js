// Time-series charts on uPlot (vendored, loaded as the global `uPlot`), in the browser's time zone.
import { h } from "./view.js";

const COLORS = ["#1f4e8c", "#b3261e", "#137333", "#8430ce", "#b06000", "#0b6e6e"];
const STEPS = { minute: 60, hour: 3600, day: 86400 };
const charts = new Set();

// The x values of a chart: one bucket every `step` seconds across [start, end).
function buckets(range, step) {
  const xs = [];
  for (let t = range.start; t < range.end; t += step) xs.push(t);
  return xs;
}

// One series' values on the buckets: a bucket the API did not return has no events, so it is
// `empty` (0 for counts, null, a gap, for rates and latencies), never a line drawn across it.
function valuesOn(xs, range, step, points, value, emptyValue) {
  const ys = xs.map(() => emptyValue);
  for (const p of points) {
    const i = Math.floor((Date.parse(p.time) / 1000 - range.start) / step);
    const v = value(p);
    if (i >= 0 && i < ys.length && v !== null && v !== undefined) ys[i] = v;
  }
  return ys;
}

// A figure with one chart over exactly `range` ({ start, end }: epoch seconds, end excluded),
// one bucket per `interval` ("minute", "hour", "day").
// series: [{ label, points: [{ time: ISO string, ... }], value: p => number|null }];
// format: n => text (legend), tick: n => short text (y-axis labels); counts: empty buckets are 0;
// pick(start, end): a click on the chart opens the bucket under the cursor (epoch seconds, end
// excluded).
// Its data-points says how many buckets have events; data-x-min / data-x-max are the x scale's
// bounds and data-y-labels the y-axis labels, as drawn; `figure.plot` is the uPlot instance.
export function timeChart(title, series, { range, interval, format, tick, counts = false, pick }) {
  const figure = h("figure", { class: "chart" }, h("figcaption", {}, title));
  const box = h("div", { class: "plot" });
  figure.append(box);
  const step = STEPS[interval];
  const withData = new Set();
  for (const s of series) {
    for (const p of s.points) {
      const v = s.value(p);
      if (v !== null && v !== undefined) withData.add(Date.parse(p.time));
    }
  }
  figure.dataset.points = String(withData.size);
  if (withData.size === 0) {
    box.append(h("p", { class: "state empty", role: "status" }, "No data for this range."));
    return figure;
  }
  const xs = buckets(range, step);
  const data = [xs, ...series.map((s) => valuesOn(xs, range, step, s.points, s.value, counts ? 0 : null))];
  const options = {
    width: 480,
    height: 220,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true, range: () => [range.start, range.end] } },
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: false,
        // A lone value between gaps is a dot, or it would not be drawn at all.
        points: { show: withData.size < 60 },
        value: (u, v) => (v === null || v === undefined ? "—" : format(v)),
      })),
    ],
    axes: [
      {},
      {
        values: (u, ticks) => {
          const labels = ticks.map(tick);
          figure.dataset.yLabels = labels.join("|");
          return labels;
        },
        // Wide enough for the longest label, at about 8 px a character.
        size: (u, values) => (values ? Math.max(...values.map((v) => v.length)) * 8 + 20 : 40),
      },
    ],
    hooks: {
      draw: [
        (u) => {
          figure.dataset.xMin = String(u.scales.x.min);
          figure.dataset.xMax = String(u.scales.x.max);
        },
      ],
    },
  };
  // Created once the figure is in the document, at the width it gets there.
  queueMicrotask(() => {
    const plot = new uPlot({ ...options, width: Math.max(box.clientWidth, 200) }, data, box);
    charts.add(plot);
    figure.plot = plot;
    if (pick) {
      figure.classList.add("picks");
      plot.over.title = "Click to see this bucket's events";
      plot.over.addEventListener("click", () => {
        const i = plot.cursor.idx;
        if (i !== null && i !== undefined) pick(xs[i], xs[i] + step);
      });
    }
  });
  return figure;
}

// The range of a date form ("YYYY-MM-DD", whole UTC days, the end day included), epoch seconds.
export function dayRange(start, end) {
  return { start: Date.parse(`${start}T00:00:00Z`) / 1000, end: Date.parse(`${end}T00:00:00Z`) / 1000 + 86400 };
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
      if (width) plot.setSize({ width: Math.max(width, 200), height: 220 });
    }
  }, 150);
});

// The Events page of a chart's bucket: [start, end) in epoch seconds, as the API's instants
// (an instant end is inclusive, so the last millisecond before the next bucket).
export function bucketRange(start, end) {
  return { start: new Date(start * 1000).toISOString(), end: new Date(end * 1000 - 1).toISOString() };
}
