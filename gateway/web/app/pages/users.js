// Users: the top users by cost, tokens, requests or errors over a date range (sorted by the API,
// kept in the URL); a user opens their sessions and events over the same range.
import { get } from "../api.js";
import { eventCost, eventLink, pagedTable, readEvents, shortId, when } from "../explore.js";
import * as fmt from "../format.js";
import { go, href } from "../router.js";
import { empty, h, load } from "../view.js";
import { SESSION_COLUMNS } from "./sessions.js";

const SORTS = [
  ["cost", "Cost"],
  ["tokens", "Tokens"],
  ["requests", "Requests"],
  ["errors", "Errors"],
];
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// The range of the URL: its days, or the last 30 days (UTC).
function rangeOf(params) {
  const today = new Date();
  const start = DAY.test(params.get("start") || "") ? params.get("start") : isoDay(new Date(today.getTime() - 29 * 86400000));
  const end = DAY.test(params.get("end") || "") ? params.get("end") : isoDay(today);
  return { start, end };
}

export function users(page, params) {
  const range = rangeOf(params);
  const sort = SORTS.some(([s]) => s === params.get("sort")) ? params.get("sort") : "cost";
  const start = h("input", { type: "date", id: "range-start", value: range.start, required: true });
  const end = h("input", { type: "date", id: "range-end", value: range.end, required: true });
  const open = (next) => go(href("users", { start: start.value, end: end.value, sort, ...next }));
  const form = h(
    "form",
    { class: "range", "aria-label": "Date range" },
    h("label", { for: "range-start" }, "From"),
    start,
    h("label", { for: "range-end" }, "To"),
    end,
    h("button", { type: "submit" }, "Apply"),
    h("span", { class: "hint" }, "Whole UTC days, the To day included."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    open({});
  });
  const box = h("div", { class: "box", id: "users-data", dataset: { sort } });
  page.append(h("h1", { id: "page-title" }, "Users"), form, h("p", { class: "hint" }, "The top 50 users; click a column to sort by it, a user to see their sessions and events."), box);
  // A sortable column's header is a button; the sorted one says so.
  const header = (key, label) =>
    h(
      "th",
      { scope: "col", class: "num", "aria-sort": key === sort ? "descending" : null },
      h("button", { type: "button", class: "sort", onclick: () => open({ sort: key }) }, label, key === sort ? " ▼" : ""),
    );
  load(box, () => get("/dashboard/users", { start_date: range.start, end_date: range.end, sort, limit: 50 }), (data) => {
    const list = data.users || [];
    if (!list.length) {
      box.append(empty("No user is named by an event in this range."));
      return;
    }
    const link = (u) => href("user", { id: u.user_id, start: range.start, end: range.end });
    box.append(
      h(
        "table",
        { class: "data", id: "users-table" },
        h("caption", {}, `Top users by ${sort}`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "User"), SORTS.map(([key, label]) => header(key, label)), h("th", { scope: "col" }, "Last seen"))),
        h(
          "tbody",
          {},
          list.map((u) =>
            h(
              "tr",
              { class: "opens", dataset: { key: u.user_id }, onclick: (event) => event.target.closest("a") || go(link(u)) },
              h("th", { scope: "row" }, h("a", { href: link(u) }, u.user_id)),
              h("td", { class: "num", dataset: { label: "Cost" } }, fmt.cost(u.cost)),
              h("td", { class: "num", dataset: { label: "Tokens" } }, fmt.count(u.tokens)),
              h("td", { class: "num", dataset: { label: "Requests" } }, fmt.count(u.requests)),
              h("td", { class: "num", dataset: { label: "Errors" } }, fmt.count(u.errors)),
              h("td", { dataset: { label: "Last seen" } }, when(u.last_seen)),
            ),
          ),
        ),
      ),
    );
  });
}

const EVENT_COLUMNS = [
  { label: "Time", value: (e) => when(e.timestamp) },
  { label: "Model", value: (e) => e.model_name },
  { label: "Session", value: (e) => shortId(e.session_id) },
  { label: "Tokens", value: (e) => fmt.count(e.tokens_used), numeric: true },
  { label: "Cost", value: eventCost, numeric: true },
  { label: "Latency", value: (e) => fmt.ms(e.latency_ms), numeric: true },
  { label: "Error", value: (e) => e.error || "" },
];

export function user(page, params) {
  const id = params.get("id") || "";
  const range = rangeOf(params);
  const dates = { start_date: range.start, end_date: range.end };
  const sessionsBox = h("div", { class: "box", id: "user-sessions" });
  const eventsBox = h("div", { class: "box", id: "user-events" });
  page.append(
    h("h1", { id: "page-title" }, "User ", h("span", { class: "id" }, id)),
    h("p", {}, h("a", { href: href("users", range) }, "← All users")),
    h("p", { class: "hint" }, `From ${range.start} to ${range.end} (UTC days).`),
    h("h2", { id: "user-sessions-title" }, "Sessions"),
    sessionsBox,
    h("h2", { id: "user-events-title" }, "LLM events"),
    h("p", {}, h("a", { href: href("events", { kind: "llm", user: id, start: range.start, end: range.end }) }, "Filter the Events page by this user")),
    eventsBox,
  );
  const stops = [
    pagedTable(sessionsBox, {
      caption: { labelledBy: "user-sessions-title" },
      columns: SESSION_COLUMNS,
      key: (s) => s.session_id,
      link: (s) => href("session", { id: s.session_id }),
      fetch: (cursor) => get("/sessions", { ...dates, user_id: id, cursor }),
      items: (answer) => answer.sessions || [],
      none: "No sessions of this user in this range.",
    }),
    pagedTable(eventsBox, {
      caption: { labelledBy: "user-events-title" },
      columns: EVENT_COLUMNS,
      key: (e) => e.event_id,
      link: (e) => eventLink("llm", e),
      fetch: (cursor) => readEvents("llm", { ...dates, user_id: id }, cursor),
      items: (answer) => answer.events || [],
      none: "No LLM events of this user in this range.",
    }),
  ];
  return () => stops.forEach((stop) => stop());
}
