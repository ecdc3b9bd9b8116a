// ML: per-model table and predictions over a date range, at an interval.
import { get } from "../api.js";
import { bucketRange, dayRange, destroyCharts, timeChart } from "../chart.js";
import { go, href } from "../router.js";
import * as fmt from "../format.js";
import { empty, h, load, table } from "../view.js";
import { driftSection } from "./drift.js";
import { query, rangeForm } from "./range.js";

const COLUMNS = [
  { label: "Model", value: (m) => m.model_id },
  { label: "Type", value: (m) => m.model_type },
  { label: "Events", value: (m) => fmt.count(m.events), numeric: true },
  { label: "Predictions", value: (m) => fmt.count(m.predictions), numeric: true },
  { label: "First seen", value: (m) => fmt.time(m.first_seen) },
  { label: "Last seen", value: (m) => fmt.time(m.last_seen) },
  { label: "p95", value: (m) => fmt.ms(m.latency_p95_ms), numeric: true },
  { label: "Errors", value: (m) => fmt.count(m.errors), numeric: true },
];

function render(range, data, box) {
  const models = data.models || [];
  if (models.length === 0) {
    box.append(empty("No ML events in this range."));
    return;
  }
  box.append(
    h(
      "p",
      { class: "totals", id: "ml-totals", dataset: { predictions: data.total_predictions } },
      `${fmt.plural(data.total_events, "event")} · ${fmt.plural(data.total_predictions, "prediction")} · `,
      `${fmt.plural(data.total_errors, "error")} (${fmt.ratio(data.error_rate)})`,
    ),
    // A model opens its events over the range; the chart's bucket its events in that bucket.
    table("Per model", COLUMNS, models, (m) => m.model_id, (m) =>
      href("events", { kind: "ml", model: m.model_id, start: range.start, end: range.end }),
    ),
    h(
      "div",
      { class: "charts" },
      timeChart("Predictions", [{ label: "Predictions", points: data.series || [], value: (p) => p.predictions }], {
        range: dayRange(range.start, range.end),
        interval: range.interval,
        format: fmt.count,
        tick: fmt.compact,
        counts: true,
        pick: (start, end) => go(href("events", { kind: "ml", ...bucketRange(start, end) })),
      }),
    ),
    driftSection(range, models.map((m) => m.model_id)),
  );
}

export default function ml(page, params) {
  const box = h("div", { class: "box", id: "ml-data" });
  const show = (range) => destroyCharts() || load(box, () => get("/dashboard/ml-metrics", query(range)), (data) => render(range, data, box));
  const { form, range } = rangeForm(params, show);
  page.append(h("h1", { id: "page-title" }, "ML"), form, h("p", { class: "hint" }, `Times in ${fmt.timeZone}.`), box);
  show(range);
}
