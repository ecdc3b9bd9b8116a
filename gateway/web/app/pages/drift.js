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
      { class: "hint", id: "drift-windows", dataset: { referenceRows: data.reference.rows, currentRows: data.current.rows } },
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
  // The most drifted column first (the first one when none has a PSI).
  const known = columns.filter((c) => c.psi !== null && c.psi !== undefined);
  choose(known.length ? known.reduce((a, b) => (b.psi > a.psi ? b : a)) : columns[0]);
}

// The drift section of the ML page for `range` ({ start, end }: whole days), over `models`
// (the range's model ids).
export function driftSection(range, models) {
  const asked = route().params.get("drift");
  let model = models.includes(asked) ? asked : models[0];
  const select = h(
    "select",
    { id: "drift-model" },
    models.map((m) => h("option", { value: m, selected: m === model }, m)),
  );
  const holder = h("div", { class: "box", id: "drift-data" });
  const show = () => {
    // A fresh box per request: an answer that arrives after another choice lands nowhere.
    const box = h("div", { dataset: { model } });
    holder.replaceChildren(box);
    load(box, () => get("/dashboard/ml-drift", { model_id: model, start_date: range.start, end_date: range.end }), render);
  };
  select.addEventListener("change", () => {
    model = select.value;
    const params = route().params;
    params.set("drift", model);
    setParams(params);
    show();
  });
  show();
  return h(
    "section",
    { class: "drift", "aria-labelledby": "drift-title" },
    h("h2", { id: "drift-title" }, "Drift"),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "drift-model" }, "Model"),
      select,
      h("span", { class: "hint" }, "Each feature and the predictions in this range against the reference window before it."),
    ),
    holder,
  );
}
