// Alerts: the tenant's rules (create, delete) and their recent state changes.
import { ApiError, SignedOut, call, get, requestSchema } from "../api.js";
import * as fmt from "../format.js";
import { empty, h, load, table } from "../view.js";

// The metrics, comparisons and bounds come from the OpenAPI document (CreateRuleRequest's
// schema), the same definition the server validates with: nothing here to keep in step.
const COMPARISON_LABELS = { gt: "above (gt)", lt: "below (lt)", anomaly: "anomaly (z-score)" };

// "error_rate > 0.1", "latency_p95 anomaly, |z| > 3": a rule's condition in words.
const condition = (r) =>
  r.comparison === "anomaly"
    ? `${r.metric} anomaly, |z| > ${fmt.number(r.threshold)}`
    : `${r.metric} ${r.comparison === "lt" ? "<" : ">"} ${fmt.number(r.threshold)}`;

// An anomaly rule's longest window, as the comparison's description in the OpenAPI document
// states it (null if it no longer does: the server still refuses a longer one, naming it).
const anomalyWindowMax = (comparison) => Number(/window_minutes of at most (\d+)/.exec(comparison.description || "")?.[1]) || null;

function field(label, id, input) {
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function ruleForm(schema, onCreated) {
  const { name, metric, comparison, threshold, window_minutes, model, webhook_url, webhook_secret } = schema.properties;
  const inputs = {
    name: h("input", { required: true, maxlength: name.maxLength }),
    metric: h("select", {}, metric.enum.map((m) => h("option", { value: m }, m))),
    comparison: h("select", {}, comparison.enum.map((c) => h("option", { value: c }, COMPARISON_LABELS[c] || c))),
    threshold: h("input", { type: "number", step: "any", min: threshold.minimum, required: true }),
    window_minutes: h("input", { type: "number", min: window_minutes.minimum, max: window_minutes.maximum, value: 60, required: true }),
    model: h("input", { placeholder: "all models", maxlength: (model.anyOf ? model.anyOf[0] : model).maxLength }),
    webhook_url: h("input", { type: "url", required: true, placeholder: "https://…", maxlength: webhook_url.maxLength }),
    webhook_secret: h("input", { type: "password", minlength: webhook_secret.minLength, maxlength: webhook_secret.maxLength, required: true, autocomplete: "new-password" }),
  };
  // With "anomaly" the threshold is a z-score and the window is shorter: the form says so.
  const anomalyMax = anomalyWindowMax(comparison);
  const hint = h(
    "p",
    { class: "hint comparison-hint", id: "comparison-hint", hidden: true },
    "Anomaly: the threshold is a z-score, how many standard deviations the window's value may stray from the mean of the windows just before it",
    anomalyMax ? `; the window is at most ${fmt.count(anomalyMax)} minutes.` : ".",
  );
  const onComparison = () => {
    const anomaly = inputs.comparison.value === "anomaly";
    hint.hidden = !anomaly;
    for (const input of [inputs.comparison, inputs.threshold]) {
      if (anomaly) input.setAttribute("aria-describedby", hint.id);
      else input.removeAttribute("aria-describedby");
    }
    inputs.window_minutes.max = anomaly && anomalyMax ? anomalyMax : window_minutes.maximum;
  };
  inputs.comparison.addEventListener("change", onComparison);
  const error = h("p", { class: "form-error", role: "alert", id: "rule-error" });
  const button = h("button", { type: "submit" }, "Create rule");
  const form = h(
    "form",
    { class: "rule-form", "aria-labelledby": "new-rule" },
    h("h2", { id: "new-rule" }, "New rule"),
    field("Name", "rule-name", inputs.name),
    field("Metric", "rule-metric", inputs.metric),
    field("Comparison", "rule-comparison", inputs.comparison),
    field("Threshold", "rule-threshold", inputs.threshold),
    field("Window (minutes)", "rule-window", inputs.window_minutes),
    hint,
    field("Model (optional)", "rule-model", inputs.model),
    field("Webhook URL", "rule-webhook-url", inputs.webhook_url),
    field(`Webhook secret (${webhook_secret.minLength}+ characters)`, "rule-webhook-secret", inputs.webhook_secret),
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const body = {
      name: inputs.name.value.trim(),
      metric: inputs.metric.value,
      comparison: inputs.comparison.value,
      threshold: Number(inputs.threshold.value),
      window_minutes: Number(inputs.window_minutes.value),
      webhook_url: inputs.webhook_url.value.trim(),
      webhook_secret: inputs.webhook_secret.value,
    };
    if (inputs.model.value.trim()) body.model = inputs.model.value.trim();
    try {
      await call("POST", "/alerts/rules", { body });
      form.reset();
      onComparison();
      onCreated();
    } catch (e) {
      if (!(e instanceof SignedOut)) error.textContent = e instanceof ApiError ? e.message : String(e);
    } finally {
      inputs.webhook_secret.value = "";
      button.disabled = false;
    }
  });
  return form;
}

function rulesTable(rules, refresh) {
  const remove = async (rule, button) => {
    button.disabled = true;
    try {
      await call("DELETE", `/alerts/rules/${encodeURIComponent(rule.id)}`);
      refresh();
    } catch (e) {
      button.disabled = false;
      if (!(e instanceof SignedOut)) button.after(h("span", { class: "form-error", role: "alert" }, ` ${e.message}`));
    }
  };
  return table(
    "Rules",
    [
      // What may keep the rule from firing (e.g. a model with no events yet), under its name.
      { label: "Name", value: (r) => h("div", {}, r.name, (r.warnings || []).map((w) => h("p", { class: "rule-warning", role: "note" }, w))) },
      { label: "Condition", value: (r) => `${condition(r)} over ${fmt.count(r.window_minutes)} min${r.model ? ` (${r.model})` : ""}` },
      { label: "State", value: (r) => h("span", { class: `badge ${r.state}` }, r.state) },
      { label: "Since", value: (r) => fmt.time(r.state_since) },
      { label: "Last value", value: (r) => fmt.number(r.last_value), numeric: true },
      {
        label: "Actions",
        // Deleting asks first, in the page, and says when the rule is firing.
        value: (r) => {
          const cell = h("div", { class: "actions" });
          const button = h("button", { type: "button", class: "danger", "aria-label": `Delete rule ${r.name}` }, "Delete");
          const ask = () => {
            const yes = h("button", { type: "button", class: "danger" }, "Yes, delete");
            const no = h("button", { type: "button", class: "secondary" }, "Cancel");
            const question = h(
              "div",
              { class: "confirm", role: "group", "aria-label": `Delete rule ${r.name}?` },
              h("p", {}, `Delete rule “${r.name}”?`),
              r.state === "firing" ? h("p", { class: "firing-note" }, "It is firing now: deleting it stops its alerts.") : null,
              yes,
              no,
            );
            yes.addEventListener("click", () => remove(r, yes));
            no.addEventListener("click", () => {
              cell.replaceChildren(button);
              button.focus();
            });
            cell.replaceChildren(question);
            no.focus();
          };
          button.addEventListener("click", ask);
          cell.append(button);
          return cell;
        },
      },
    ],
    rules,
    (r) => r.id,
  );
}

const TRANSITIONS = [
  { label: "Time", value: (e) => fmt.time(e.time) },
  { label: "Rule", value: (e) => e.rule_name },
  { label: "Change", value: (e) => `${e.previous_state} → ${e.state}` },
  { label: "Value", value: (e) => fmt.number(e.value), numeric: true },
  { label: "Threshold", value: (e) => fmt.number(e.threshold), numeric: true },
  { label: "Webhook", value: (e) => `${e.delivery_status} (${fmt.plural(e.delivery_attempts, "attempt")})` },
];

export default function alerts(page) {
  const rules = h("div", { class: "box", id: "rules" });
  const form = h("div", { id: "rule-form" });
  const events = h("div", { class: "box", id: "transitions" });
  const refresh = () => {
    load(rules, () => get("/alerts/rules"), (data) => {
      const list = data.rules || [];
      rules.append(list.length ? rulesTable(list, refresh) : empty("No alert rules yet."));
    });
    load(events, () => get("/alerts/events", { limit: 50 }), (data) => {
      const list = data.events || [];
      events.append(list.length ? table({ labelledBy: "transitions-title" }, TRANSITIONS, list, (e) => e.id) : empty("No rule has changed state yet."));
    });
  };
  page.append(h("h1", { id: "page-title" }, "Alerts"), rules, form, h("h2", { id: "transitions-title" }, "Recent transitions"), events);
  refresh();
  load(form, () => requestSchema("post", "/alerts/rules"), (schema) => form.append(ruleForm(schema, refresh)));
}
