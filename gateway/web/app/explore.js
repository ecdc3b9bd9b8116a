// What the explore pages share: lists that load more rows as they scroll (next_cursor), the
// cells of an event, and an event's content as a conversation (always text, never HTML).
import { get } from "./api.js";
import * as fmt from "./format.js";
import { go, href } from "./router.js";
import { empty, h, load, table, tableRow } from "./view.js";

// A list read page by page: the first page through load() (loading, error with retry), then the
// next page whenever the end of the list comes into view (or "Load more" is pressed), until the
// API's next_cursor is null. fetch(cursor) => the API's answer; items(answer) => its rows.
// Returns a function that stops watching the scroll (call it when the page is left).
export function pagedTable(box, { caption, columns, key, link, fetch, items, none, rendered }) {
  let cursor = null;
  let body = null;
  let busy = false;
  const more = h("button", { type: "button", class: "secondary more", hidden: true }, "Load more");
  const status = h("p", { class: "state", role: "status" });
  const watcher = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  });
  const take = (answer) => {
    cursor = answer.next_cursor || null;
    more.hidden = !cursor;
    box.dataset.more = cursor ? "yes" : "no";
    return items(answer);
  };
  async function next() {
    if (busy || !cursor || !body) return;
    busy = true;
    more.disabled = true;
    status.textContent = "Loading more…";
    try {
      const rows = take(await fetch(cursor));
      for (const row of rows) body.append(tableRow(columns, row, key, link));
      box.dataset.rows = String(body.children.length);
      status.textContent = "";
    } catch (error) {
      status.textContent = `Could not load more: ${error.message}`;
    } finally {
      busy = false;
      more.disabled = false;
    }
  }
  more.addEventListener("click", next);
  load(
    box,
    () => fetch(null),
    (answer) => {
      const rows = take(answer);
      if (!rows.length) {
        box.append(empty(none));
        box.dataset.rows = "0";
        return;
      }
      const list = table(caption, columns, rows, key, link);
      body = list.tBodies[0];
      box.dataset.rows = String(rows.length);
      box.append(list, status, more);
      watcher.observe(more);
      if (rendered) rendered();
    },
  );
  return () => watcher.disconnect();
}

// A cost the server could not price (cost_source "unknown") is not known: "—", not "$0.00".
export const eventCost = (e) => (e.cost_source === "unknown" ? fmt.cost(null) : fmt.cost(e.cost));
export const when = (iso) => h("time", { datetime: iso }, fmt.time(iso));
export const eventLink = (kind, e) => href("event", { kind, id: e.event_id });

// A short id for a table cell (the whole one in its title).
export const shortId = (id) => (id ? h("span", { class: "id", title: id }, id.length > 14 ? `${id.slice(0, 12)}…` : id) : "—");

// One message's text: a string as it is, anything else as JSON.
const text = (content) => (typeof content === "string" ? content : JSON.stringify(content, null, 2));

function message(role, content) {
  return h(
    "div",
    { class: `message ${role}`, dataset: { role } },
    h("span", { class: "role" }, role),
    h("p", { class: "text" }, text(content ?? "")),
  );
}

// The messages of one side (input or output): a string is one message in `role`; a list of
// {role, content} is shown as it is.
function side(value, role) {
  if (value === undefined || value === null || value === "") return [];
  if (Array.isArray(value)) {
    return value.map((m) => (m && typeof m === "object" && !Array.isArray(m) ? message(String(m.role || role), m.content) : message(role, m)));
  }
  return [message(role, value)];
}

// An LLM event's content as a conversation: system, input, then output. Null when it has none.
export function conversation(e) {
  const messages = [...side(e.system, "system"), ...side(e.input, "user"), ...side(e.output, "assistant")];
  if (!messages.length) return null;
  return h("div", { class: "conversation" }, messages, e.content_truncated ? h("p", { class: "hint" }, "Content was cut to the server's limit.") : null);
}

// A list of labelled values, those with a value only.
export function fields(pairs, id) {
  const shown = pairs.filter(([, value]) => value !== undefined && value !== null && value !== "");
  return h(
    "dl",
    { class: "fields", id },
    shown.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
  );
}

// The event list's read (GET /events/{kind}) with the page's filters.
export const readEvents = (kind, query, cursor) => get(`/events/${kind}`, { ...query, cursor });

// The filter form of a list page (traces, sessions): filters are [URL key, API parameter,
// label]; Apply opens the page with them in its URL. Returns the form and the API query.
export function listFilters(name, params, filters, withErrors) {
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filters" },
    filters.map(([key, , label]) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: `filter-${key}` }, label),
        h("input", { id: `filter-${key}`, name: key, value: params.get(key) || "", autocomplete: "off", placeholder: key === "start" || key === "end" ? "YYYY-MM-DD" : null }),
      ),
    ),
    withErrors
      ? h("p", { class: "field check" }, h("input", { type: "checkbox", id: "filter-errors", name: "errors", checked: params.get("errors") === "1" }), h("label", { for: "filter-errors" }, "Errors only"))
      : null,
    h("p", { class: "buttons" }, h("button", { type: "submit" }, "Apply"), h("a", { href: href(name) }, "Clear filters")),
    h("p", { class: "hint" }, "Dates are UTC days (the To day included) or date-times; without them, the last 24 hours."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key] of filters) if (form.elements[key].value.trim()) next.set(key, form.elements[key].value.trim());
    if (withErrors && form.elements.errors.checked) next.set("errors", "1");
    go(href(name, Object.fromEntries(next)));
  });
  const query = {};
  for (const [key, api] of filters) if (params.get(key)) query[api] = params.get(key);
  if (withErrors && params.get("errors") === "1") query.errors_only = "true";
  return { form, query };
}
