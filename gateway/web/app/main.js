// The app shell: sign-in, navigation by the URL's hash (#/llm?start=…), one page at a time.
import { ApiError, signIn, signOut, token, whenSignedOut } from "./api.js";
import { destroyCharts } from "./chart.js";
import { route, SECTION } from "./router.js";
import { h } from "./view.js";
import overview from "./pages/overview.js";
import llm from "./pages/llm.js";
import ml from "./pages/ml.js";
import alerts from "./pages/alerts.js";
import live from "./pages/live.js";
import { events, event } from "./pages/events.js";
import { traces, trace } from "./pages/traces.js";
import { sessions, session } from "./pages/sessions.js";
import { users, user } from "./pages/users.js";

const PAGES = { overview, llm, ml, events, event, traces, trace, sessions, session, users, user, alerts, live };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
let leave = () => {};

function leavePage() {
  leave();
  leave = () => {};
  destroyCharts();
}

function show() {
  leavePage();
  if (!token()) return showSignIn();
  const { name, params } = route();
  nav.hidden = false;
  signOutButton.hidden = false;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === (SECTION[name] || name)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = h("section", { class: "page", "aria-labelledby": "page-title", dataset: { page: name } });
  main.replaceChildren(page);
  leave = PAGES[name](page, params) || (() => {});
}

function showSignIn(message) {
  leavePage();
  nav.hidden = true;
  signOutButton.hidden = true;
  const error = h("p", { class: "form-error", role: "alert", id: "sign-in-error" }, message || "");
  const clientId = h("input", { id: "client-id", name: "client_id", autocomplete: "username", required: true });
  const secret = h("input", {
    id: "client-secret",
    name: "client_secret",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "sign-in-error",
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in", "aria-labelledby": "page-title" },
    h("h1", { id: "page-title" }, "Sign in to AegisAI"),
    h("label", { for: "client-id" }, "Client ID"),
    clientId,
    h("label", { for: "client-secret" }, "Client secret"),
    secret,
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      await signIn(clientId.value.trim(), secret.value);
      secret.value = "";
      show(); // the page that was asked for: the hash was kept
      // The form is gone: the next Tab starts from the top (the navigation), not from where
      // the form was, in the middle of the page's links.
      document.getElementById("brand").focus();
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.message : String(e);
      secret.value = "";
      secret.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  clientId.focus();
}

whenSignedOut(() => {
  // Several calls of a page may be refused at once: one form, not typed-in text lost.
  if (!main.querySelector("form.sign-in")) showSignIn("Your session has expired; sign in again.");
});
signOutButton.addEventListener("click", () => {
  signOut();
  showSignIn();
});
addEventListener("hashchange", show);
show();
