// Sessions: the list (newest activity first, more as you scroll), and one session as its
// conversation in order, with its totals.
import { get } from "../api.js";
import { conversation, eventCost, listFilters, pagedTable, shortId, when } from "../explore.js";
import * as fmt from "../format.js";
import { href } from "../router.js";
import { h, load } from "../view.js";

export const SESSION_COLUMNS = [
  { label: "Session", value: (s) => shortId(s.session_id) },
  { label: "User", value: (s) => s.user_id || "—" },
  { label: "First seen", value: (s) => when(s.first_seen) },
  { label: "Last seen", value: (s) => when(s.last_seen) },
  { label: "Requests", value: (s) => fmt.count(s.requests), numeric: true },
  { label: "Tokens", value: (s) => fmt.count(s.tokens), numeric: true },
  { label: "Cost", value: (s) => fmt.cost(s.cost), numeric: true },
  { label: "Errors", value: (s) => fmt.count(s.errors), numeric: true },
];

const FILTERS = [
  ["start", "start_date", "From"],
  ["end", "end_date", "To"],
  ["user", "user_id", "User"],
];

export function sessions(page, params) {
  const { form, query } = listFilters("sessions", params, FILTERS, false);
  const box = h("div", { class: "box", id: "sessions-data" });
  page.append(h("h1", { id: "page-title" }, "Sessions"), form, h("p", { class: "hint" }, `Newest activity first; times in ${fmt.timeZone}. Click a session to read it.`), box);
  return pagedTable(box, {
    caption: "Sessions",
    columns: SESSION_COLUMNS,
    key: (s) => s.session_id,
    link: (s) => href("session", { id: s.session_id }),
    fetch: (cursor) => get("/sessions", { ...query, cursor }),
    items: (answer) => answer.sessions || [],
    none: "No sessions in this range.",
  });
}

// One turn of the conversation: the call's header (time, model, numbers, links), then its content.
function turn(e) {
  const llm = e.kind !== "ml";
  const model = llm ? e.model_name : e.model_id;
  const numbers = llm
    ? [fmt.plural(e.tokens_used, "token"), eventCost(e), fmt.ms(e.latency_ms)]
    : [fmt.plural(e.prediction_count, "prediction"), fmt.ms(e.latency_ms)];
  return h(
    "li",
    { class: `turn${e.error ? " error" : ""}`, dataset: { eventId: e.event_id, kind: llm ? "llm" : "ml" } },
    h(
      "p",
      { class: "turn-head" },
      when(e.timestamp),
      " ",
      h("span", { class: `kind ${llm ? "llm" : "ml"}` }, llm ? "LLM" : "ML"),
      " ",
      h("strong", {}, model || "—"),
      ` · ${numbers.join(" · ")}`,
      e.error ? h("span", { class: "span-error" }, ` ⚠ ${e.error}`) : null,
      " ",
      h("a", { href: href("event", { kind: llm ? "llm" : "ml", id: e.event_id }) }, "Open event"),
      e.trace_id ? [" ", h("a", { href: href("trace", { id: e.trace_id }) }, "View trace")] : null,
    ),
    llm ? conversation(e) || h("p", { class: "state" }, "No content stored.") : null,
  );
}

export function session(page, params) {
  const id = params.get("id") || "";
  const box = h("div", { class: "box", id: "session-data" });
  page.append(h("h1", { id: "page-title" }, "Session"), h("p", {}, h("a", { href: href("sessions") }, "← All sessions")), box);
  const read = (cursor) => get(`/sessions/${encodeURIComponent(id)}`, { cursor });
  load(box, () => read(null), (data) => {
    const t = data.totals || {};
    const list = h("ol", { class: "turns", id: "session-turns", "aria-label": "The session's calls, oldest first" }, (data.events || []).map(turn));
    const more = h("button", { type: "button", class: "secondary more", hidden: !data.next_cursor }, "Load more");
    const status = h("p", { class: "state", role: "status" });
    let cursor = data.next_cursor;
    more.addEventListener("click", async () => {
      more.disabled = true;
      status.textContent = "Loading more…";
      try {
        const next = await read(cursor);
        list.append(...(next.events || []).map(turn));
        cursor = next.next_cursor;
        more.hidden = !cursor;
        status.textContent = "";
      } catch (error) {
        status.textContent = `Could not load more: ${error.message}`;
      } finally {
        more.disabled = false;
      }
    });
    box.append(
      h("p", { class: "hint" }, h("span", { class: "id" }, data.session_id), data.user_id ? [" · user ", h("a", { href: href("user", { id: data.user_id }) }, data.user_id)] : null),
      h(
        "p",
        { class: "totals", id: "session-totals", dataset: { requests: t.requests, cost: t.cost } },
        `${fmt.plural(t.requests, "request")} · ${fmt.plural(t.tokens, "token")} · ${fmt.cost(t.cost)} · ${fmt.plural(t.errors, "error")}`,
      ),
      list,
      status,
      more,
    );
  });
}
