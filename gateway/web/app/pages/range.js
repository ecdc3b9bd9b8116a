// The date range and interval controls of the LLM and ML pages, kept in the URL.
import { route, setParams } from "../router.js";
import { h } from "../view.js";

const INTERVALS = ["minute", "hour", "day"];

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function rangeOf(params) {
  const today = new Date();
  const weekAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6);
  const day = /^\d{4}-\d{2}-\d{2}$/;
  const start = day.test(params.get("start") || "") ? params.get("start") : isoDay(weekAgo);
  const end = day.test(params.get("end") || "") ? params.get("end") : isoDay(today);
  const interval = INTERVALS.includes(params.get("interval")) ? params.get("interval") : "hour";
  return { start, end, interval };
}

// A form that calls onChange(range) when applied, and writes the range into the URL.
export function rangeForm(params, onChange) {
  const range = rangeOf(params);
  const start = h("input", { type: "date", id: "range-start", value: range.start, required: true });
  const end = h("input", { type: "date", id: "range-end", value: range.end, required: true });
  const interval = h(
    "select",
    { id: "range-interval" },
    INTERVALS.map((i) => h("option", { value: i, selected: i === range.interval }, i)),
  );
  const form = h(
    "form",
    { class: "range", "aria-label": "Date range" },
    h("label", { for: "range-start" }, "From"),
    start,
    h("label", { for: "range-end" }, "To"),
    end,
    h("label", { for: "range-interval" }, "Interval"),
    interval,
    h("button", { type: "submit" }, "Apply"),
    h("span", { class: "hint" }, "Dates are whole UTC days; a minute series covers at most 1 day, an hour series 31."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = { start: start.value, end: end.value, interval: interval.value };
    const params = route().params; // the page's other state (e.g. lines=model) stays
    for (const [key, value] of Object.entries(next)) params.set(key, value);
    setParams(params);
    onChange(next);
  });
  return { form, range };
}

export const query = (range) => ({ start_date: range.start, end_date: range.end, interval: range.interval });
