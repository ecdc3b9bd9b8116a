// LLM: per-model table and charts over a date range, at an interval.
import { get } from "../api.js";
import { bucketRange, dayRange, destroyCharts, timeChart } from "../chart.js";
import * as fmt from "../format.js";
import { empty, h, load, table } from "../view.js";
import { go, href, route, setParams } from "../router.js";
import { query, rangeForm } from "./range.js";

const COLUMNS = [
  { label: "Model", value: (m) => m.model_name },
  { label: "Requests", value: (m) => fmt.count(m.requests), numeric: true },
  { label: "Tokens", value: (m) => fmt.count(m.tokens), numeric: true },
  { label: "Cost", value: (m) => fmt.cost(m.cost), numeric: true },
  { label: "Avg prompt", value: (m) => fmt.number(m.avg_prompt_length), numeric: true },
  { label: "Avg response", value: (m) => fmt.number(m.avg_response_length), numeric: true },
  { label: "p50", value: (m) => fmt.ms(m.latency_p50_ms), numeric: true },
  { label: "p95", value: (m) => fmt.ms(m.latency_p95_ms), numeric: true },
  { label: "p99", value: (m) => fmt.ms(m.latency_p99_ms), numeric: true },
  { label: "Errors", value: (m) => `${fmt.count(m.errors)} (${fmt.ratio(m.error_rate)})`, numeric: true },
];

// The charts: name, the point's value, its formats, whether an empty bucket counts 0.
const CHARTS = [
  { title: "Requests", value: (p) => p.requests, format: fmt.count, tick: fmt.compact, counts: true },
  { title: "Tokens", value: (p) => p.tokens, format: fmt.count, tick: fmt.compact, counts: true },
  { title: "Cost", value: (p) => p.cost, format: fmt.cost, tick: fmt.compactCost, counts: true },
  { title: "p95 latency", value: (p) => p.latency_p95_ms, format: fmt.ms, tick: fmt.compactMs, counts: false },
];

// The lines of a chart: all models together, or one per model (its own series).
function lines(data, chart, perModel) {
  if (!perModel) return [{ label: chart.title, points: data.series || [], value: chart.value }];
  return (data.models || []).map((m) => ({ label: m.model_name, points: m.series || [], value: chart.value }));
}

function render(range, data, box, perModel) {
  const models = data.models || [];
  if (models.length === 0) {
    box.append(empty("No LLM requests in this range."));
    return;
  }
  box.append(
    h(
      "p",
      { class: "totals", id: "llm-totals", dataset: { requests: data.total_requests, cost: data.total_cost } },
      `${fmt.plural(data.total_requests, "request")} · ${fmt.plural(data.total_tokens, "token")} · `,
      `${fmt.cost(data.total_cost)} · ${fmt.plural(data.total_errors, "error")} (${fmt.ratio(data.error_rate)})`,
    ),
    // A model opens its events over the range; a chart's bucket its events in that bucket.
    table("Per model", COLUMNS, models, (m) => m.model_name, (m) =>
      href("events", { kind: "llm", model: m.model_name, start: range.start, end: range.end }),
    ),
    h(
      "div",
      { class: "charts" },
      CHARTS.map((c) =>
        timeChart(c.title, lines(data, c, perModel), {
          range: dayRange(range.start, range.end),
          interval: range.interval,
          ...c,
          pick: (start, end) => go(href("events", { kind: "llm", ...bucketRange(start, end) })),
        }),
      ),
    ),
  );
}

export default function llm(page, params) {
  const box = h("div", { class: "box", id: "llm-data" });
  // One line per model or all together (lines=model in the URL): drawn again from the same answer.
  const perModel = h("input", { type: "checkbox", id: "lines-model", checked: params.get("lines") === "model" });
  let shown = null;
  const draw = () => {
    destroyCharts();
    box.replaceChildren();
    render(shown.range, shown.data, box, perModel.checked);
  };
  perModel.addEventListener("change", () => {
    const next = route().params;
    if (perModel.checked) next.set("lines", "model");
    else next.delete("lines");
    setParams(next);
    if (shown) draw();
  });
  const show = (range) =>
    destroyCharts() ||
    load(
      box,
      () => get("/dashboard/llm-metrics", query(range)),
      (data) => {
        shown = { range, data };
        render(range, data, box, perModel.checked);
      },
    );
  const { form, range } = rangeForm(params, show);
  const toggle = h("p", { class: "toolbar" }, perModel, h("label", { for: "lines-model" }, "One line per model"));
  page.append(h("h1", { id: "page-title" }, "LLM"), form, toggle, h("p", { class: "hint" }, `Times in ${fmt.timeZone}.`), box);
  show(range);
}
