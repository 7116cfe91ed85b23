// Timeline: one session's events in order (type, version, position, schema, causation, trace, payload);
// the session as it was at any version, and a fork from there.

import { api } from "./api.js";
import { h, json, problem, replace, short, table, when } from "./dom.js";

export async function render(main, [sessionId]) {
  const [session, events] = await Promise.all([
    api("GET", `/v1/sessions/${sessionId}`),
    api("GET", `/v1/sessions/${sessionId}/events`),
  ]);
  const panel = h("div", { class: "card state", hidden: true });
  const versionOf = new Map(events.map((e) => [e.event_id, e.version]));
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, `Timeline of ${short(sessionId)}`),
      h("code", { class: "muted" }, sessionId), h("a", { href: `#/chat/${sessionId}` }, "Chat")),
    h("p", { class: "muted" }, `${session.status}, ${session.messages} message(s), ${events.length} event(s), `
      + `persona ${session.persona_id || "default"}`),
    panel,
    table(["v", "position", "event", "schema", "occurred", "caused by", "trace", "payload", ""],
      events.map((e) => row(e, sessionId, versionOf, panel))),
  );
}

function row(e, sessionId, versionOf, panel) {
  const cause = e.causation_id
    ? (versionOf.has(e.causation_id) ? h("a", { href: `#ev-${e.causation_id}`, title: e.causation_id },
      `v${versionOf.get(e.causation_id)}`) : h("code", { title: e.causation_id }, short(e.causation_id)))
    : h("span", { class: "muted" }, "request");
  const traceId = e.traceparent?.split("-")[1];
  return h("tr", { id: `ev-${e.event_id}`, "data-version": e.version },
    h("td", { class: "num" }, e.version), h("td", { class: "num" }, e.position),
    h("td", { title: e.event_type }, e.event_type.split(".").pop()),
    h("td", { class: "num", title: `schema id ${e.schema_id}, version ${e.schema_version ?? "?"}` },
      `#${e.schema_id} v${e.schema_version ?? "?"}`),
    h("td", {}, when(e.occurred_at)), h("td", {}, cause),
    h("td", {}, traceId ? h("a", { href: `#/traces/${traceId}`, title: traceId }, short(traceId)) : ""),
    h("td", {}, h("details", {}, h("summary", {}, summary(e.data)), json(e.data))),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => stateAt(sessionId, e.version, panel) },
        "State here"),
      h("button", { type: "button", class: "secondary", onclick: () => fork(sessionId, e.version, panel) },
        "Fork here")));
}

function summary(data) {
  const text = data.text ?? data.reason ?? data.persona_id ?? "";
  return String(text).length > 60 ? `${String(text).slice(0, 60)}…` : String(text) || "payload";
}

async function stateAt(sessionId, version, panel) {
  panel.hidden = false;
  try {
    const state = await api("GET", `/v1/sessions/${sessionId}?at_version=${version}`);
    replace(panel, h("h2", {}, `The session at version ${version}`), json(state),
      h("button", { type: "button", class: "secondary", onclick: () => { panel.hidden = true; } }, "Close"));
  } catch (error) {
    replace(panel, problem(error));
  }
}

async function fork(sessionId, version, panel) {
  try {
    const forked = await api("POST", `/v1/sessions/${sessionId}/fork`, { at_version: version });
    await api("GET", `/v1/sessions/${forked.session_id}?min_position=${forked.position}`); // once the views show it
    location.hash = `#/sessions/${forked.session_id}`;
  } catch (error) {
    panel.hidden = false;
    replace(panel, problem(error));
  }
}
