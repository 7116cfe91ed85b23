// Chat: start a session, send messages, watch the reply stream in with its tool calls; approve, deny, cancel.

import { api, events } from "./api.js";
import { badge, h, json, problem, replace, short } from "./dom.js";

const POLL_MS = 1000;

export async function render(main, [sessionId], signal) {
  const transcript = h("ol", { class: "transcript", "aria-live": "polite" });
  const tools = h("div", { class: "tools" });
  const status = h("div", { class: "status" });
  const persona = h("input", { name: "persona", placeholder: "persona (optional)", "aria-label": "persona" });
  const text = h("textarea", { name: "message", rows: 3, required: true, placeholder: "Your message",
    "aria-label": "message" });
  const form = h("form", { class: "composer", onsubmit: (e) => send(e) },
    sessionId ? null : persona, text, h("button", { type: "submit" }, "Send"));

  async function send(e) {
    e.preventDefault();
    const body = { message: text.value };
    if (sessionId) body.session_id = sessionId;
    else if (persona.value.trim()) body.persona_id = persona.value.trim();
    try {
      const accepted = await api("POST", "/v1/session/message", body);
      text.value = "";
      replace(status);
      if (sessionId) return;
      // read-your-writes: the views show the new session once they applied its position
      await api("GET", `/v1/sessions/${accepted.session_id}?min_position=${accepted.position}`);
      location.hash = `#/chat/${accepted.session_id}`;
    } catch (error) {
      replace(status, problem(error));
    }
  }

  async function cancel() {
    try {
      await api("POST", `/v1/sessions/${sessionId}/cancel`, { reason: "cancelled in the console" });
    } catch (error) {
      replace(status, problem(error));
    }
  }

  const actions = sessionId
    ? [h("button", { type: "button", class: "secondary", onclick: cancel }, "Cancel reply"),
      h("a", { href: `#/sessions/${sessionId}` }, "Timeline")]
    : [];
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, sessionId ? `Session ${short(sessionId)}` : "New session"),
      h("code", { class: "muted" }, sessionId || ""), ...actions),
    h("div", { class: "chat" }, h("section", {}, transcript, form, status),
      h("aside", {}, h("h2", {}, "Tool calls"), tools)),
  );
  text.focus();
  if (!sessionId) {
    transcript.append(h("li", { class: "muted" }, "Send a message to start a session."));
    return;
  }
  pollTools(sessionId, tools, status, signal);
  await follow(sessionId, transcript, signal);
}

// The live transcript; after a dropped connection (the API restarted, the network blinked) it resumes
// where it stopped, as EventSource would.
async function follow(sessionId, transcript, signal) {
  const replies = new Map(); // reply message id -> its element while chunks arrive
  let lastId = null;
  while (!signal.aborted) {
    try {
      for await (const update of events(`/v1/sessions/${sessionId}/stream`, signal, lastId)) {
        lastId = update.id ?? lastId;
        show(update, transcript, replies);
        if (update.event === "closed") return;
      }
    } catch (error) {
      if (signal.aborted || (error.status && error.status < 500)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)); // then resume after the last update seen
  }
}

function show({ event, data }, transcript, replies) {
  if (event === "message") {
    const shown = message(data);
    const partial = replies.get(data.message_id);
    if (partial) partial.replaceWith(shown);
    else transcript.append(shown);
    replies.delete(data.message_id);
  } else if (event === "chunk") {
    let reply = replies.get(data.message_id);
    if (!reply) {
      reply = h("li", { class: "assistant streaming", "data-message": data.message_id },
        h("span", { class: "role" }, "assistant"), h("div", { class: "text" }));
      replies.set(data.message_id, reply);
      transcript.append(reply);
    }
    reply.querySelector(".text").append(data.text);
  } else if (event === "cancelled" || event === "closed") {
    transcript.append(h("li", { class: "notice" }, `${event}${data.reason ? `: ${data.reason}` : ""}`));
  }
}

function message(data) {
  const cancelled = data.metadata?.status === "cancelled";
  return h("li", { class: `${data.role}${cancelled ? " cancelled" : ""}`, "data-message": data.message_id },
    h("span", { class: "role" }, data.role, cancelled ? " (cancelled)" : ""),
    h("div", { class: "text" }, data.text),
    (data.attachments || []).map((a) => h("div", { class: "attachment muted" }, `📎 ${a.name} (${a.media_type})`)));
}

async function pollTools(sessionId, into, status, signal) {
  let last = "";
  while (!signal.aborted) {
    try {
      const found = await api("GET", `/v1/sessions/${sessionId}/tool-executions`);
      const seen = JSON.stringify(found.items);
      if (seen !== last) {
        last = seen;
        replace(status);
        replace(into, found.items.length ? found.items.map((t) => tool(t, status)) : h("p", { class: "muted" }, "none yet"));
      }
    } catch (error) {
      replace(status, problem(error));
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function tool(t, status) {
  const decide = (verb) => async () => {
    try {
      await api("POST", `/v1/tool-executions/${t.request_id}/${verb}`, {});
    } catch (error) {
      replace(status, problem(error));
    }
  };
  const waiting = t.status === "awaiting_approval";
  return h("article", { class: "tool", "data-request": t.request_id },
    h("header", {}, h("strong", {}, t.tool_name), " ", badge(t.status)),
    h("details", { open: true }, h("summary", {}, "arguments"), json(t.arguments)),
    t.result === null || t.result === undefined ? null : h("details", {}, h("summary", {}, "result"), json(t.result)),
    t.error ? h("p", { class: "error" }, t.error) : null,
    t.decision ? h("p", { class: "muted" }, `policy: ${t.decision}${t.decision_reason ? ` (${t.decision_reason})` : ""}`) : null,
    waiting ? h("div", { class: "actions" },
      h("button", { type: "button", onclick: decide("approve") }, "Approve"),
      h("button", { type: "button", class: "danger", onclick: decide("deny") }, "Deny")) : null);
}
