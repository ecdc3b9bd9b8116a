// The page and its shareable state live in the URL's hash: #/llm?start=…&end=…&interval=hour.
const NAMES = ["overview", "llm", "ml", "events", "event", "traces", "trace", "sessions", "session", "users", "user", "alerts", "live"];

// A page opened from a list belongs to that list's link in the navigation.
export const SECTION = { event: "events", trace: "traces", session: "sessions", user: "users" };

// The link to a page with its query, e.g. href("events", { model: "gpt-4o" }).
export function href(name, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) query.set(key, value);
  }
  const text = query.toString();
  return `#/${name}${text ? `?${text}` : ""}`;
}

export function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const name = NAMES.includes(path) ? path : "overview";
  return { name, params: new URLSearchParams(query) };
}

// Change the query of the current page without a reload (shareable state).
export function setParams(params) {
  const { name } = route();
  const next = `#/${name}?${params}`;
  if (location.hash !== next) history.replaceState(null, "", next);
}

// Open a page (its URL changes), or show it again when it is the one already shown.
export function go(link) {
  if (location.hash === link) dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = link;
}
