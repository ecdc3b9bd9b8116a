// Traces: the list (newest start first, more as you scroll), and one trace as a waterfall: a row
// per span, indented by depth, its bar placed and sized by start and duration on one time axis.
import { get } from "../api.js";
import { listFilters, pagedTable, shortId, when } from "../explore.js";
import * as fmt from "../format.js";
import { href } from "../router.js";
import { h, load } from "../view.js";

const COLUMNS = [
  { label: "Root", value: (t) => t.root_name || "(no root span)" },
  { label: "Start", value: (t) => when(t.start) },
  { label: "Duration", value: (t) => fmt.ms(t.duration_ms), numeric: true },
  { label: "Spans", value: (t) => fmt.count(t.spans), numeric: true },
  { label: "LLM calls", value: (t) => fmt.count(t.llm_calls), numeric: true },
  { label: "Tokens", value: (t) => fmt.count(t.tokens), numeric: true },
  { label: "Cost", value: (t) => fmt.cost(t.cost), numeric: true },
  { label: "Errors", value: (t) => fmt.count(t.errors), numeric: true },
  { label: "User", value: (t) => t.user_id || "—" },
  { label: "Session", value: (t) => shortId(t.session_id) },
];

const FILTERS = [
  ["start", "start_date", "From"],
  ["end", "end_date", "To"],
  ["user", "user_id", "User"],
  ["session", "session_id", "Session"],
];

export function traces(page, params) {
  const { form, query } = listFilters("traces", params, FILTERS, true);
  const box = h("div", { class: "box", id: "traces-data" });
  page.append(h("h1", { id: "page-title" }, "Traces"), form, h("p", { class: "hint" }, `Newest first; times in ${fmt.timeZone}. Click a trace to see its spans.`), box);
  return pagedTable(box, {
    caption: "Traces",
    columns: COLUMNS,
    key: (t) => t.trace_id,
    link: (t) => href("trace", { id: t.trace_id }),
    fetch: (cursor) => get("/traces", { ...query, cursor }),
    items: (answer) => answer.traces || [],
    none: "No traces in this range.",
  });
}

// The spans in tree order (each after its parent, siblings by start), with their depth. A span
// whose parent never arrived is a root.
export function treeOrder(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    const parent = span.parent_span_id;
    if (parent && ids.has(parent) && parent !== span.span_id) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(span);
    } else roots.push(span);
  }
  const ordered = [];
  const seen = new Set();
  const visit = (span, depth) => {
    if (seen.has(span.span_id)) return;
    seen.add(span.span_id);
    ordered.push({ span, depth });
    for (const child of children.get(span.span_id) || []) visit(child, depth + 1);
  };
  for (const root of roots) visit(root, 0);
  for (const span of spans) visit(span, 0); // a cycle's spans, shown rather than lost
  return ordered;
}

function spanDetails(span) {
  const llm = span.llm;
  const ml = span.ml;
  const parts = [fmt.ms(span.duration_ms)];
  if (llm) {
    parts.push(llm.model_name, fmt.plural(llm.tokens_used, "token"), llm.cost_source === "unknown" ? fmt.cost(null) : fmt.cost(llm.cost));
  } else if (ml) {
    parts.push(ml.model_id, fmt.plural(ml.prediction_count, "prediction"));
  }
  const error = span.status === "ERROR" ? span.status_message || (llm || ml || {}).error || "error" : null;
  const event = llm || ml;
  return h(
    "span",
    { class: "span-info" },
    parts.join(" · "),
    error ? h("span", { class: "span-error" }, ` ⚠ ${error}`) : null,
    event ? [" ", h("a", { href: href("event", { kind: llm ? "llm" : "ml", id: event.event_id }) }, "Open event")] : null,
  );
}

function waterfall(spans) {
  const starts = spans.map((s) => Date.parse(s.start));
  const ends = spans.map((s) => Date.parse(s.end));
  const t0 = Math.min(...starts);
  const total = Math.max(Math.max(...ends) - t0, 1);
  const percent = (n) => `${((100 * n) / total).toFixed(3)}%`;
  const axis = h(
    "div",
    { class: "wf-row wf-axis", "aria-hidden": "true" },
    h("span", { class: "wf-name" }, "Span"),
    h("span", { class: "wf-track" }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const tick = h("span", { class: "wf-tick" }, fmt.ms(f * total));
      tick.style.left = `${100 * f}%`;
      return tick;
    })),
  );
  const rows = treeOrder(spans).map(({ span, depth }) => {
    const start = Date.parse(span.start) - t0;
    const length = Math.max(Date.parse(span.end) - Date.parse(span.start), 0);
    const bar = h("span", { class: "wf-bar" });
    bar.style.left = percent(start);
    bar.style.width = `max(2px, ${percent(length)})`;
    const name = h("span", { class: "wf-name", title: span.name }, span.llm ? h("span", { class: "kind" }, "LLM ") : null, span.ml ? h("span", { class: "kind ml" }, "ML ") : null, span.name);
    name.style.paddingLeft = `${depth}rem`;
    const error = span.status === "ERROR";
    const row = h(
      "li",
      {
        class: `wf-row${error ? " error" : ""}${span.llm || span.ml ? " event" : ""}`,
        dataset: { spanId: span.span_id, depth: String(depth), start: String(start), duration: String(length), status: span.status },
      },
      name,
      h("span", { class: "wf-track" }, bar),
      spanDetails(span),
    );
    return row;
  });
  return h("div", { class: "waterfall" }, axis, h("ol", { class: "wf-spans", "aria-label": "Spans by start, children under their parent" }, rows));
}

export function trace(page, params) {
  const id = params.get("id") || "";
  const box = h("div", { class: "box", id: "trace-data" });
  page.append(h("h1", { id: "page-title" }, "Trace"), h("p", {}, h("a", { href: href("traces") }, "← All traces")), box);
  load(box, () => get(`/traces/${encodeURIComponent(id)}`), (data) => {
    const spans = data.spans || [];
    const calls = spans.filter((s) => s.llm);
    const errors = spans.filter((s) => s.status === "ERROR").length;
    const tokens = calls.reduce((n, s) => n + (s.llm.tokens_used || 0), 0);
    const cost = calls.reduce((n, s) => n + (s.llm.cost || 0), 0);
    const first = spans.find((s) => s.llm?.session_id || s.llm?.user_id);
    box.append(
      h("p", { class: "hint" }, h("span", { class: "id" }, data.trace_id)),
      h(
        "p",
        { class: "totals", id: "trace-totals" },
        `${fmt.plural(spans.length, "span")} · ${fmt.plural(calls.length, "LLM call")} · ${fmt.plural(tokens, "token")} · ${fmt.cost(cost)} · ${fmt.plural(errors, "error")}`,
      ),
      first?.llm?.session_id ? h("p", { class: "toolbar links" }, h("a", { href: href("session", { id: first.llm.session_id }), class: "button" }, "View session")) : null,
      waterfall(spans),
    );
    performance.mark("aegis:trace-rendered");
  });
}
