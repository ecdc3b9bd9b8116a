// The ML page's drift: for one model (chosen among the range's, kept in the URL as `drift`),
// each feature's and the predictions' PSI and status for the chosen range against its
// reference window (GET /dashboard/ml-drift), and a chosen column's two distributions.
import { get } from "../api.js";
import { decileChart, shareChart } from "../distribution.js";
import * as fmt from "../format.js";
import { route, setParams } from "../router.js";
import { empty, h, load, table } from "../view.js";

const STATUS = { ok: "ok", warning: "warning", drift: "drift", insufficient_data: "insufficient data" };
const psi = new Intl.NumberFormat(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const score = (n) => (n === null || n === undefined ? "—" : psi.format(n));

const windowText = (label, w) => `${label}: ${fmt.time(w.start)} – ${fmt.time(w.end)}, ${fmt.plural(w.rows, "row")}`;

// One column's two distributions: numbers from deciles, strings from top shares.
function distributions(column) {
  const windows = [
    { label: "Reference", class: "ref", quantiles: column.reference_quantiles || [], top: column.reference_top || [] },
    { label: "Current", class: "cur", quantiles: column.current_quantiles || [], top: column.current_top || [] },
  ];
  return column.type === "categorical" ? shareChart(windows) : decileChart(windows);
}

function render(data, box) {
  box.append(
    h(
      "p",
      { class: "hint", id: "drift-windows", dataset: { referenceStart: data.reference.start, referenceRows: data.reference.rows, currentRows: data.current.rows } },
      windowText("Current", data.current),
      h("br"),
      windowText("Reference", data.reference),
    ),
  );
  const features = data.features || [];
  if (features.length === 0) box.append(empty("No features were sent for this model in this range."));
  const columns = [
    ...features.map((f) => ({ ...f, key: `feature:${f.name}`, label: f.name })),
    ...(data.predictions ? [{ ...data.predictions, key: "predictions", label: "Predictions", predictions: true }] : []),
  ];
  if (columns.length === 0) return;
  const chart = h("div", { class: "drift-chart", id: "drift-chart", "aria-live": "polite" });
  const buttons = new Map();
  const choose = (column) => {
    for (const [key, button] of buttons) button.setAttribute("aria-pressed", String(key === column.key));
    chart.dataset.column = column.key;
    chart.replaceChildren(h("h3", {}, column.predictions ? "Predictions" : `Feature ${column.name}`), distributions(column));
  };
  const pick = (column) => {
    const button = h(
      "button",
      { type: "button", class: "pick", "aria-pressed": "false", title: "Show its distributions" },
      column.label,
    );
    button.addEventListener("click", () => choose(column));
    buttons.set(column.key, button);
    return column.predictions ? h("span", {}, button, h("span", { class: "tag" }, "model output")) : button;
  };
  box.append(
    table(
      { labelledBy: "drift-title" },
      [
        { label: "Feature", value: pick },
        { label: "Type", value: (c) => c.type },
        { label: "PSI", value: (c) => score(c.psi), numeric: true },
        { label: "JS distance", value: (c) => score(c.js_distance), numeric: true },
        { label: "Status", value: (c) => h("span", { class: `badge drift-${c.status}`, dataset: { status: c.status } }, STATUS[c.status] || c.status) },
      ],
      columns,
      (c) => c.key,
    ),
    chart,
  );
  // Shown at once: the most drifted column (the first one when none has a PSI).
  const known = columns.filter((c) => c.psi !== null && c.psi !== undefined);
  choose(known.length ? known.reduce((a, b) => (b.psi > a.psi ? b : a)) : columns[0]);
}

// The drift section of the ML page for `range` ({ start, end }: whole days), over `models`
// (the range's model ids). The reference window is the server's default unless both of its
// days are given (kept in the URL as `ref_start`, `ref_end`).
export function driftSection(range, models) {
  const params = route().params;
  const day = (key) => (/^\d{4}-\d{2}-\d{2}$/.test(params.get(key) || "") ? params.get(key) : "");
  const asked = params.get("drift");
  const select = h(
    "select",
    { id: "drift-model" },
    models.map((m) => h("option", { value: m, selected: m === asked }, m)),
  );
  const refStart = h("input", { type: "date", id: "drift-ref-start", value: day("ref_start") });
  const refEnd = h("input", { type: "date", id: "drift-ref-end", value: day("ref_end"), "aria-label": "Reference to" });
  // Both days or neither (the server refuses one alone), the end not before the start.
  const bound = () => {
    refStart.required = refEnd.required = Boolean(refStart.value || refEnd.value);
    refEnd.min = refStart.value;
  };
  refStart.addEventListener("input", bound);
  refEnd.addEventListener("input", bound);
  bound();
  const holder = h("div", { class: "box", id: "drift-data" });
  const show = () => {
    const model = select.value;
    const reference = refStart.value && refEnd.value ? { reference_start: refStart.value, reference_end: refEnd.value } : {};
    // A fresh box per request: an answer that arrives after another choice lands nowhere.
    const box = h("div", { dataset: { model } });
    holder.replaceChildren(box);
    load(box, () => get("/dashboard/ml-drift", { model_id: model, start_date: range.start, end_date: range.end, ...reference }), render);
  };
  const apply = () => {
    const next = route().params; // the range and the page's other state stay
    next.set("drift", select.value);
    for (const [key, input] of [["ref_start", refStart], ["ref_end", refEnd]]) {
      if (input.value) next.set(key, input.value);
      else next.delete(key);
    }
    setParams(next);
    show();
  };
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Drift" },
    h("label", { for: "drift-model" }, "Model"),
    select,
    h("label", { for: "drift-ref-start" }, "Reference from"),
    refStart,
    h("label", { for: "drift-ref-end" }, "to"),
    refEnd,
    h("button", { type: "submit" }, "Compare"),
    h("span", { class: "hint" }, "Each feature and the predictions in this range against a reference window: the days given, or without them the window just before the range."),
  );
  select.addEventListener("change", () => form.requestSubmit());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  show();
  return h("section", { class: "drift", "aria-labelledby": "drift-title" }, h("h2", { id: "drift-title" }, "Drift"), form, holder);
}
