// The public REST API, with the bearer token held for this tab only (sessionStorage; the
// client secret is never stored). A 401 on any call means the token is gone or expired.
const TOKEN_KEY = "aegis.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class SignedOut extends ApiError {}

let onSignedOut = () => {};

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function errorOf(reply) {
  let message = `${reply.status} ${reply.statusText}`;
  try {
    const body = await reply.json();
    if (body && typeof body.message === "string" && body.message) message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  return message;
}

export async function signIn(clientId, clientSecret) {
  let reply;
  try {
    reply = await fetch("/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ clientId, clientSecret }),
    });
  } catch {
    throw new ApiError(0, "The server could not be reached.");
  }
  if (!reply.ok) {
    const message = reply.status === 401 ? "Wrong client ID or secret." : await errorOf(reply);
    throw new ApiError(reply.status, message);
  }
  const body = await reply.json();
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
}

export async function call(method, path, { query, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let reply;
  try {
    reply = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The server could not be reached.");
  }
  if (reply.status === 401) {
    signOut();
    onSignedOut();
    throw new SignedOut(401, "Your session has expired; sign in again.");
  }
  if (!reply.ok) throw new ApiError(reply.status, await errorOf(reply));
  return reply.json();
}

export const get = (path, query) => call("GET", path, { query });

// The server's OpenAPI document (no token needed), read once per page load: the one place the
// dashboard learns what a request may hold (enums, lengths, ranges), so it never keeps a copy.
let apiDocument = null;

export function openapi() {
  apiDocument ??= fetch("/openapi.json").then(
    async (reply) => {
      if (!reply.ok) throw new ApiError(reply.status, await errorOf(reply));
      return reply.json();
    },
    () => {
      throw new ApiError(0, "The server could not be reached.");
    },
  );
  apiDocument.catch(() => {
    apiDocument = null; // a failure is retried on the next call
  });
  return apiDocument;
}

// The JSON Schema of a JSON request body, e.g. requestSchema("post", "/alerts/rules").
export async function requestSchema(method, path) {
  const doc = await openapi();
  return doc.paths[path][method].requestBody.content["application/json"].schema;
}

// The token was refused (e.g. by the WebSocket tail): back to sign-in, keeping the page.
export function expire() {
  signOut();
  onSignedOut();
}
