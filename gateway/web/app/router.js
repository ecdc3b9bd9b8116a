// The page and its shareable state live in the URL's hash: #/llm?start=…&end=…&interval=hour.
const NAMES = ["overview", "llm", "ml", "alerts", "live"];

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
