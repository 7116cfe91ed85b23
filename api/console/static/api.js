// The REST API with the signed-in credential: held in this tab's sessionStorage (gone when the tab closes).

const KEY = "agentlog.credential";

export const credential = {
  get() {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  },
  set(kind, value) {
    sessionStorage.setItem(KEY, JSON.stringify({ kind, value }));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the API answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra = {}) {
  const found = credential.get();
  if (found?.kind === "jwt") return { ...extra, Authorization: `Bearer ${found.value}` };
  if (found) return { ...extra, "X-API-Key": found.value };
  return extra;
}

export async function api(method, path, body) {
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  if (method === "POST" && globalThis.crypto?.randomUUID) extra["Idempotency-Key"] = crypto.randomUUID();
  const response = await fetch(path, {
    method,
    headers: headers(extra),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (response.status === 401) window.dispatchEvent(new CustomEvent("agentlog:unauthorized"));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Server-Sent Events over fetch (EventSource cannot send the credential in a header): yields
// {id, event, data} until the stream ends or `signal` aborts; resumes after `lastId` when given.
export async function* events(path, signal, lastId) {
  const extra = { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) };
  const response = await fetch(path, { headers: headers(extra), signal });
  if (response.status === 204) return;
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = parse(block);
      if (message) yield message;
    }
  }
}

function parse(block) {
  const message = { id: null, event: "message", data: "" };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "data") message.data += (message.data ? "\n" : "") + value;
    else if (name === "id" || name === "event") message[name] = value;
  }
  return message.data ? { ...message, data: JSON.parse(message.data) } : null;
}
