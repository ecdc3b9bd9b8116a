// Small DOM helpers and the loading / error (with retry) / empty states every page shares.
import { SignedOut } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// columns: [{ label, value: row => text or Node, numeric }]; caption: its text, or
// { labelledBy: id } to be named by a heading already on the page (no second title).
// rowLink: row => the href a click anywhere on the row opens (its first cell's link too).
export function table(caption, columns, rows, rowKey, rowLink) {
  const named = typeof caption === "string";
  return h(
    "table",
    { class: "data", "aria-labelledby": named ? null : caption.labelledBy },
    named ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)))),
    h(
      "tbody",
      {},
      rows.map((row) => tableRow(columns, row, rowKey, rowLink)),
    ),
  );
}

// One body row of table(): appended by pages that load more rows as they scroll.
export function tableRow(columns, row, rowKey, rowLink) {
  const link = rowLink ? rowLink(row) : null;
  return h(
    "tr",
    { dataset: rowKey ? { key: rowKey(row) } : {}, class: link ? "opens" : null, onclick: link ? (event) => opens(event, link) : null },
    columns.map((c, i) =>
      i === 0
        ? h("th", { scope: "row" }, link ? h("a", { href: link }, c.value(row)) : c.value(row))
        : h("td", { class: c.numeric ? "num" : null, dataset: { label: c.label } }, c.value(row)),
    ),
  );
}

// A click on a row (not on a link or button in it, nor the end of a text selection) opens it.
function opens(event, link) {
  if (event.target.closest("a, button, input, select") || String(getSelection())) return;
  location.hash = link;
}

export const empty = (text) => h("p", { class: "state empty", role: "status" }, text);

// Replace `box`'s content by the result of load(), showing loading and error states.
// Resolves to true once rendered; a signed-out error is left to the sign-in form.
export async function load(box, loader, render) {
  box.replaceChildren(h("p", { class: "state loading", role: "status" }, "Loading…"));
  box.setAttribute("aria-busy", "true");
  try {
    const data = await loader();
    box.replaceChildren();
    render(data, box);
    box.dataset.state = "ready";
    return true;
  } catch (error) {
    if (error instanceof SignedOut) return false;
    box.dataset.state = "error";
    box.replaceChildren(
      h(
        "div",
        { class: "state error", role: "alert" },
        h("p", {}, `Could not load: ${error.message}`),
        h("button", { type: "button", onclick: () => load(box, loader, render) }, "Retry"),
      ),
    );
    return false;
  } finally {
    box.removeAttribute("aria-busy");
  }
}
