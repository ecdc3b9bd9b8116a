// Events: the LLM or ML events, newest first, filtered (all kept in the URL), more rows as you
// scroll; and one event: its fields, attribution, metadata and content as a conversation.
import { get } from "../api.js";
import { conversation, eventCost, eventLink, fields, pagedTable, readEvents, shortId, when } from "../explore.js";
import * as fmt from "../format.js";
import { go, href, setParams } from "../router.js";
import { h, load } from "../view.js";

// The filters: URL key, API parameter, label.
const FILTERS = [
  ["start", "start_date", "From"],
  ["end", "end_date", "To"],
  ["model", "model", "Model"],
  ["user", "user_id", "User"],
  ["session", "session_id", "Session"],
  ["trace", "trace_id", "Trace"],
  ["environment", "environment", "Environment"],
  ["release", "release", "Release"],
  ["tag", "tag", "Tag"],
];

const COLUMNS = {
  llm: [
    { label: "Time", value: (e) => when(e.timestamp) },
    { label: "Model", value: (e) => e.model_name },
    { label: "User", value: (e) => e.user_id || "—" },
    { label: "Session", value: (e) => shortId(e.session_id) },
    { label: "Tokens", value: (e) => fmt.count(e.tokens_used), numeric: true },
    { label: "Cost", value: eventCost, numeric: true },
    { label: "Latency", value: (e) => fmt.ms(e.latency_ms), numeric: true },
    { label: "Error", value: (e) => e.error || "" },
  ],
  ml: [
    { label: "Time", value: (e) => when(e.timestamp) },
    { label: "Model", value: (e) => e.model_id },
    { label: "Type", value: (e) => e.model_type || "—" },
    { label: "User", value: (e) => e.user_id || "—" },
    { label: "Predictions", value: (e) => fmt.count(e.prediction_count), numeric: true },
    { label: "Latency", value: (e) => fmt.ms(e.latency_ms), numeric: true },
    { label: "Error", value: (e) => e.error || "" },
  ],
};

const kindOf = (params) => (params.get("kind") === "ml" ? "ml" : "llm");

// The API query of the page's URL.
function eventQuery(params) {
  const query = {};
  for (const [key, name] of FILTERS) if (params.get(key)) query[name] = params.get(key);
  if (params.get("errors") === "1") query.errors_only = "true";
  return query;
}

function filterForm(params, kind) {
  const inputs = FILTERS.map(([key, , label]) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: `filter-${key}` }, label),
      h("input", {
        id: `filter-${key}`,
        name: key,
        value: params.get(key) || "",
        placeholder: key === "start" || key === "end" ? "YYYY-MM-DD" : null,
        autocomplete: "off",
      }),
    ),
  );
  const errors = h("input", { type: "checkbox", id: "filter-errors", name: "errors", checked: params.get("errors") === "1" });
  const kinds = h(
    "fieldset",
    { class: "switch" },
    h("legend", {}, "Kind"),
    ["llm", "ml"].map((k) =>
      h(
        "label",
        {},
        h("input", { type: "radio", name: "kind", value: k, checked: k === kind }),
        k === "llm" ? "LLM" : "ML",
      ),
    ),
  );
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filters" },
    kinds,
    inputs,
    h("p", { class: "field check" }, errors, h("label", { for: "filter-errors" }, "Errors only")),
    h("p", { class: "buttons" }, h("button", { type: "submit" }, "Apply"), h("a", { href: href("events", { kind }) }, "Clear filters")),
    h("p", { class: "hint" }, "Dates are UTC days (the To day included) or date-times; without them, the last 24 hours."),
  );
  const apply = () => {
    const next = new URLSearchParams();
    next.set("kind", form.elements.kind.value);
    for (const [key] of FILTERS) {
      const value = form.elements[key].value.trim();
      if (value) next.set(key, value);
    }
    if (errors.checked) next.set("errors", "1");
    go(`#/events?${next}`); // a new view: the page is shown again from the URL
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  for (const radio of form.querySelectorAll("input[type=radio]")) radio.addEventListener("change", apply);
  return form;
}

export function events(page, params) {
  const kind = kindOf(params);
  if (!params.get("kind")) {
    params.set("kind", kind);
    setParams(params);
  }
  const box = h("div", { class: "box", id: "events-data", dataset: { kind } });
  page.append(
    h("h1", { id: "page-title" }, "Events"),
    filterForm(params, kind),
    h("p", { class: "hint" }, `Newest first; times in ${fmt.timeZone}. Click an event to open it.`),
    box,
  );
  const query = eventQuery(params);
  return pagedTable(box, {
    caption: kind === "llm" ? "LLM events" : "ML events",
    columns: COLUMNS[kind],
    key: (e) => e.event_id,
    link: (e) => eventLink(kind, e),
    fetch: (cursor) => readEvents(kind, query, cursor),
    items: (answer) => answer.events || [],
    none: "No events match these filters.",
    rendered: () => performance.mark("aegis:events-rendered"),
  });
}

// The 30 UTC days that end on the day of `iso`: the window a user's page opens with.
function monthBefore(iso) {
  const end = new Date(Date.parse(iso) || Date.now());
  const start = new Date(end.getTime() - 29 * 86400000);
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10) };
}

function renderEvent(kind, e, box) {
  const llm = kind === "llm";
  const links = h(
    "p",
    { class: "toolbar links" },
    e.trace_id ? h("a", { href: href("trace", { id: e.trace_id }), class: "button" }, "View trace") : null,
    e.session_id ? h("a", { href: href("session", { id: e.session_id }), class: "button" }, "View session") : null,
    e.user_id ? h("a", { href: href("user", { id: e.user_id, ...monthBefore(e.timestamp) }), class: "button" }, "View user") : null,
  );
  const main = llm
    ? [
        ["Model", e.model_name],
        ["Time", when(e.timestamp)],
        ["Tokens", fmt.count(e.tokens_used)],
        ["Cost", eventCost(e)],
        ["Cost source", e.cost_source],
        ["Latency", fmt.ms(e.latency_ms)],
        ["Prompt length", fmt.count(e.prompt_length)],
        ["Response length", fmt.count(e.response_length)],
        ["Error", e.error],
        ["Event ID", e.event_id],
      ]
    : [
        ["Model", e.model_id],
        ["Type", e.model_type],
        ["Time", when(e.timestamp)],
        ["Predictions", fmt.count(e.prediction_count)],
        ["Latency", fmt.ms(e.latency_ms)],
        ["Error", e.error],
        ["Event ID", e.event_id],
      ];
  const attribution = [
    ["User", e.user_id],
    ["Session", e.session_id],
    ["Trace", e.trace_id],
    ["Span", e.span_id],
    ["Parent span", e.parent_span_id],
    ["Environment", e.environment],
    ["Release", e.release],
    ["Tags", (e.tags || []).join(", ")],
  ];
  const talk = llm ? conversation(e) : null;
  const metadata = e.metadata && Object.keys(e.metadata).length ? e.metadata : null;
  box.append(
    links,
    h("h2", {}, "Fields"),
    fields(main, "event-fields"),
    h("h2", {}, "Attribution"),
    attribution.some(([, v]) => v) ? fields(attribution, "event-attribution") : h("p", { class: "state" }, "No user, session or trace."),
    llm ? h("h2", {}, "Conversation") : null,
    llm ? talk || h("p", { class: "state" }, "No content stored for this event.") : null,
    h("h2", {}, "Metadata"),
    metadata ? h("pre", { class: "json" }, JSON.stringify(metadata, null, 2)) : h("p", { class: "state" }, "None."),
  );
}

export function event(page, params) {
  const kind = kindOf(params);
  const id = params.get("id") || "";
  const box = h("div", { class: "box", id: "event-data" });
  page.append(
    h("h1", { id: "page-title" }, kind === "llm" ? "LLM event" : "ML event"),
    h("p", {}, h("a", { href: href("events", { kind }) }, `← All ${kind === "llm" ? "LLM" : "ML"} events`)),
    box,
  );
  load(box, () => get(`/events/${kind}/${encodeURIComponent(id)}`), (e) => renderEvent(kind, e, box));
}
