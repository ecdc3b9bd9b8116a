// Overview: the four totals, the recent events, requests and cost over time (all time, by day).
import { get } from "../api.js";
import { bucketRange, timeChart } from "../chart.js";
import { go, href } from "../router.js";
import * as fmt from "../format.js";
import { h, load, table, empty } from "../view.js";

function stat(label, key, value, text) {
  return h("div", { class: "stat", dataset: { stat: key, value: String(value) } }, h("dt", {}, label), h("dd", {}, text));
}

export function summary(event) {
  const d = event.data || {};
  if (event.kind === "llm") {
    // A cost the server could not price (cost_source "unknown") is not known, whatever was
    // stored: events stored before unknown costs were null carry a 0.
    const cost = d.cost_source === "unknown" ? fmt.cost(null) : fmt.cost(d.cost);
    const parts = [fmt.plural(d.tokens_used, "token"), cost];
    if (d.latency_ms !== null && d.latency_ms !== undefined) parts.push(fmt.ms(d.latency_ms));
    if (d.error) parts.push(`error: ${d.error}`);
    return parts.join(" · ");
  }
  const parts = [fmt.plural(d.prediction_count, "prediction")];
  if (d.latency_ms !== null && d.latency_ms !== undefined) parts.push(fmt.ms(d.latency_ms));
  if (d.error) parts.push(`error: ${d.error}`);
  return parts.join(" · ");
}

export function eventsTable(labelledBy, events) {
  return table(
    { labelledBy },
    [
      { label: "Time", value: (e) => h("time", { datetime: e.timestamp }, fmt.time(e.timestamp)) },
      { label: "Kind", value: (e) => (e.kind === "llm" ? "LLM" : "ML") },
      { label: "Model", value: (e) => e.model },
      { label: "Details", value: summary },
    ],
    events,
    (e) => e.event_id,
    (e) => href("event", { kind: e.kind, id: e.event_id }),
  );
}

export default function overview(page) {
  const totals = h("div", { class: "box", id: "totals" });
  const recent = h("div", { class: "box", id: "recent" });
  const charts = h("div", { class: "box charts", id: "over-time" });
  page.append(
    h("h1", { id: "page-title" }, "Overview"),
    totals,
    h("h2", {}, "Requests and cost over time"),
    h("p", { class: "hint" }, `LLM requests and cost per day, all time (times in ${fmt.timeZone}).`),
    charts,
    h("h2", { id: "recent-title" }, "Recent events"),
    recent,
  );
  // One request feeds both boxes; a retry after a failure asks again.
  let pending = null;
  const overviewData = () =>
    (pending ??= get("/dashboard/overview").catch((error) => {
      pending = null;
      throw error;
    }));
  load(totals, overviewData, (data) => {
    totals.append(
      h(
        "dl",
        { class: "stats" },
        stat("ML predictions", "total_ml_predictions", data.total_ml_predictions, fmt.count(data.total_ml_predictions)),
        stat("LLM requests", "total_llm_requests", data.total_llm_requests, fmt.count(data.total_llm_requests)),
        stat("Active models", "active_models", data.active_models, fmt.count(data.active_models)),
        stat("Total cost", "total_cost", data.total_cost, fmt.cost(data.total_cost)),
        stat("Errors", "total_errors", data.total_errors, fmt.count(data.total_errors)),
      ),
    );
    performance.mark("aegis:overview-rendered");
  });
  load(recent, overviewData, (data) => {
    const events = data.recent_events || [];
    recent.append(events.length ? eventsTable("recent-title", events) : empty("No events yet. Send some with the SDK or POST /ingest/ml and /ingest/llm."));
  });
  load(charts, () => get("/dashboard/llm-metrics", { interval: "day" }), (data) => {
    const series = data.series || [];
    // All time: from the first day with events to the end of today, or of the last day with
    // events if that is later (UTC days).
    const today = Math.floor(Date.now() / 86400000) * 86400;
    const times = series.map((p) => Date.parse(p.time) / 1000);
    const range = { start: Math.min(today, ...times), end: Math.max(today, ...times) + 86400 };
    const pick = (start, end) => go(href("events", { kind: "llm", ...bucketRange(start, end) }));
    const day = { range, interval: "day", counts: true, pick };
    charts.append(
      timeChart("LLM requests per day", [{ label: "Requests", points: series, value: (p) => p.requests }], {
        ...day,
        format: fmt.count,
        tick: fmt.compact,
      }),
      timeChart("Cost per day", [{ label: "Cost", points: series, value: (p) => p.cost }], {
        ...day,
        format: fmt.cost,
        tick: fmt.compactCost,
      }),
    );
  });
}
