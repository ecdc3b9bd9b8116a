// Live: events as they arrive over the WebSocket tail (GET /ws/events), newest first,
// pausable, at most MAX_ROWS shown. The first message sent is the token.
import { expire, token } from "../api.js";
import * as fmt from "../format.js";
import { h } from "../view.js";
import { summary } from "./overview.js";

const MAX_ROWS = 200;
const POLICY_VIOLATION = 1008;

function row(message) {
  const event = message.event || {};
  const model = message.kind === "llm" ? event.model_name : event.model_id;
  return h(
    "li",
    { dataset: { eventId: event.event_id || "", kind: message.kind } },
    h("time", { datetime: event.timestamp }, fmt.time(event.timestamp)),
    h("span", { class: `kind ${message.kind}` }, message.kind === "llm" ? "LLM" : "ML"),
    h("strong", {}, model || "—"),
    h("span", {}, summary({ kind: message.kind, data: event })),
  );
}

export default function live(page) {
  const status = h("p", { class: "state", role: "status", id: "live-status" }, "Connecting…");
  const list = h("ol", { class: "live", id: "live-events", "aria-label": "Live events, newest first" });
  const pause = h("button", { type: "button", "aria-pressed": "false" }, "Pause");
  const retry = h("button", { type: "button", hidden: true }, "Reconnect now");
  const none = h("p", { class: "state empty", id: "live-empty" }, "No events yet: they appear here as they are ingested.");
  let held = [];
  let received = 0; // events received since the page opened
  let paused = false;
  let socket = null;
  let timer = 0;
  let backoff = 1000;
  let left = false;

  // What the page is doing: paused (and holding), waiting, or how many events came.
  const connected = () => {
    if (paused) return "Paused: new events are held.";
    return received ? `Connected: ${fmt.plural(received, "event")} received.` : "Connected: waiting for events.";
  };
  const add = (messages) => {
    if (messages.length) none.hidden = true;
    for (const message of messages) list.prepend(row(message));
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  };
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      add(held);
      held = [];
    }
    status.textContent = connected();
  });

  const connect = () => {
    clearTimeout(timer);
    retry.hidden = true;
    status.textContent = "Connecting…";
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/events`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ token: token() }));
      backoff = 1000;
      status.textContent = connected();
      page.dataset.live = "open";
    });
    socket.addEventListener("message", (message) => {
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      received += 1;
      if (paused) {
        held.push(parsed);
        if (held.length > MAX_ROWS) held = held.slice(-MAX_ROWS);
        status.textContent = `Paused: ${fmt.count(held.length)} new event${held.length === 1 ? "" : "s"} held.`;
      } else {
        add([parsed]);
        status.textContent = connected();
      }
    });
    socket.addEventListener("close", (event) => {
      page.dataset.live = "closed";
      if (left) return;
      if (event.code === POLICY_VIOLATION) {
        expire();
        return;
      }
      status.textContent = `Disconnected${event.reason ? `: ${event.reason}` : ""}. Reconnecting in ${Math.round(backoff / 1000)} s.`;
      retry.hidden = false;
      timer = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    });
  };
  retry.addEventListener("click", connect);

  page.append(h("h1", { id: "page-title" }, "Live"), h("div", { class: "toolbar" }, pause, retry), status, none, list);
  connect();
  return () => {
    left = true;
    clearTimeout(timer);
    socket?.close(1000);
  };
}
