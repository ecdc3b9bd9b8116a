// Two windows' distributions of one column, drawn over each other (the ML page's drift):
// numbers from their nine deciles, strings from their top values' shares. SVG and plain DOM,
// no library; every label is text (feature values are user data).
import { h } from "./view.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 200;
const PAD = { left: 40, right: 14, top: 10, bottom: 26 };
const DECILES = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i / 10);

const significant = new Intl.NumberFormat(undefined, { notation: "compact", maximumSignificantDigits: 3 });
const share = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
export const short = (n) => significant.format(n);
export const percent = (n) => share.format(n);

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

const legend = (windows) =>
  h(
    "p",
    { class: "legend" },
    windows.map((w) => h("span", { class: `key ${w.class}` }, w.label)),
  );

// windows: [{ label, class: "ref" | "cur", quantiles: [9 numbers] or [] }].
// Each window's deciles as a line of (value, share of rows at or below it): a cumulative
// distribution, so a shift moves a line sideways and a wider spread makes it flatter.
export function decileChart(windows) {
  const drawn = windows.filter((w) => w.quantiles.length === DECILES.length);
  const figure = h("figure", { class: "distribution", dataset: { kind: "numeric", series: drawn.map((w) => w.label).join("|") } });
  figure.append(h("figcaption", {}, "Share of rows at or below a value, at each decile"));
  if (drawn.length === 0) {
    figure.append(h("p", { class: "state empty", role: "status" }, "No values in either window."));
    return figure;
  }
  const values = drawn.flatMap((w) => w.quantiles);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  // Drawn at about the size it is shown, so that its labels stay legible on a phone.
  const WIDTH = matchMedia("(max-width: 640px)").matches ? 320 : 480;
  const x = (v) => PAD.left + ((v - lo) / (hi - lo)) * (WIDTH - PAD.left - PAD.right);
  const y = (p) => PAD.top + (1 - p) * (HEIGHT - PAD.top - PAD.bottom);
  const summary = drawn.map((w) => `${w.label}: median ${short(w.quantiles[4])}, p10 ${short(w.quantiles[0])}, p90 ${short(w.quantiles[8])}`);
  const plot = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": summary.join("; "), class: "deciles" });
  for (const p of [0.1, 0.5, 0.9]) {
    plot.append(svg("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(p), y2: y(p) }));
    plot.append(svg("text", { class: "tick", x: PAD.left - 4, y: y(p) + 4, "text-anchor": "end" }, percent(p)));
  }
  for (const [v, anchor] of [[lo, "start"], [(lo + hi) / 2, "middle"], [hi, "end"]]) {
    plot.append(svg("text", { class: "tick", x: x(v), y: HEIGHT - 8, "text-anchor": anchor }, short(v)));
  }
  for (const w of drawn) {
    const points = w.quantiles.map((q, i) => `${x(q).toFixed(1)},${y(DECILES[i]).toFixed(1)}`);
    plot.append(svg("polyline", { class: `series ${w.class}`, points: points.join(" "), "data-label": w.label }));
    w.quantiles.forEach((q, i) => {
      plot.append(svg("circle", { class: `dot ${w.class}`, cx: x(q), cy: y(DECILES[i]), r: 3 }, svg("title", {}, `${w.label} p${(i + 1) * 10}: ${short(q)}`)));
    });
  }
  figure.append(plot, legend(drawn));
  // The numbers themselves, for reading and for screen readers.
  const rows = DECILES.map((p, i) =>
    h("tr", {}, h("th", { scope: "row" }, `p${Math.round(p * 100)}`), drawn.map((w) => h("td", { class: "num", dataset: { label: w.label } }, short(w.quantiles[i])))),
  );
  figure.append(
    h(
      "details",
      { class: "deciles-table" },
      h("summary", {}, "Deciles"),
      h("table", { class: "data" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Decile"), drawn.map((w) => h("th", { scope: "col", class: "num" }, w.label)))), h("tbody", {}, rows)),
    ),
  );
  return figure;
}

// windows: [{ label, class, top: [{ value, share, other }] }]. One row per value either window
// kept, its share in each window as a bar; "other" (the values a sketch did not keep) last. A
// value missing from a window that has an "other" entry is counted there, not 0: "in other".
export function shareChart(windows) {
  const figure = h("figure", { class: "distribution", dataset: { kind: "categorical", series: windows.map((w) => w.label).join("|") } });
  figure.append(h("figcaption", {}, "Share of rows with each value"));
  const rows = new Map();
  windows.forEach((w, i) => {
    for (const t of w.top) {
      const key = `${t.other ? "other" : "value"}:${t.value}`;
      if (!rows.has(key)) rows.set(key, { value: t.value, other: t.other, shares: windows.map((v) => (v.top.some((o) => o.other) ? null : 0)) });
      rows.get(key).shares[i] = t.share;
    }
  });
  if (rows.size === 0) {
    figure.append(h("p", { class: "state empty", role: "status" }, "No values in either window."));
    return figure;
  }
  const ordered = [...rows.values()].sort((a, b) => a.other - b.other || Math.max(...b.shares) - Math.max(...a.shares));
  const widest = Math.max(...ordered.flatMap((r) => r.shares)) || 1;
  const bar = (value, w) => {
    const fill = h("span", { class: `bar ${w.class}` });
    fill.style.width = `${((value || 0) / widest) * 100}%`; // CSSOM, allowed by the page's CSP
    return h("span", { class: "share" }, h("span", { class: "track" }, fill), h("span", { class: "pct" }, value === null ? "in other" : percent(value)));
  };
  figure.append(
    h(
      "table",
      { class: "data shares" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Value"), windows.map((w) => h("th", { scope: "col" }, w.label)))),
      h(
        "tbody",
        {},
        ordered.map((r) =>
          h(
            "tr",
            { dataset: { other: r.other ? "true" : "false" } },
            h("th", { scope: "row", class: r.other ? "other" : null }, r.other ? "other values" : r.value),
            windows.map((w, i) => h("td", { dataset: { label: w.label, share: r.shares[i] ?? "other" } }, bar(r.shares[i], w))),
          ),
        ),
      ),
    ),
    legend(windows),
  );
  return figure;
}
