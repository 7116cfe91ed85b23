// Operations: the relay's and each view's freshness against the store head, dead letters (with replay),
// the supervisor's processes, and token budgets per persona and day.

import { api } from "./api.js";
import { badge, h, problem, replace, table, when } from "./dom.js";

export async function render(main) {
  const sections = {
    health: h("section", { id: "health" }), deadLetters: h("section", { id: "dead-letters" }),
    processes: h("section", { id: "processes" }), budgets: h("section", { id: "budgets" }),
  };
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Operations"),
    h("button", { type: "button", class: "secondary", onclick: () => fill(sections) }, "Refresh")),
  h("div", { class: "grid" }, Object.values(sections)));
  await fill(sections);
}

async function fill(s) {
  await Promise.all([
    section(s.health, "Health and freshness", health),
    section(s.deadLetters, "Dead letters", (into) => deadLetters(into, s.deadLetters)),
    section(s.processes, "Processes", processes),
    section(s.budgets, "Budgets today and before", budgets),
  ]);
}

async function section(into, title, fillIn) {
  const body = h("div");
  replace(into, h("h2", {}, title), body);
  try {
    await fillIn(body);
  } catch (error) {
    replace(body, problem(error));
  }
}

async function health(into) {
  const response = await fetch("/health");
  const found = await response.json();
  const rows = Object.entries(found.freshness || {}).map(([name, f]) => h("tr", {},
    h("td", {}, name), h("td", {}, badge(f.status)), h("td", { class: "num" }, f.events_behind ?? "?"),
    h("td", { class: "num" }, f.seconds_behind === null ? "?" : `${f.seconds_behind.toFixed(1)} s`),
    h("td", { class: "muted" }, f.error || "")));
  const deps = Object.entries(found.dependencies || {}).map(([name, d]) =>
    h("li", {}, `${name} `, badge(d.status), d.latency_ms === null ? "" : ` ${d.latency_ms} ms`));
  replace(into, h("p", {}, "overall ", badge(found.status)), h("ul", { class: "inline" }, deps),
    table(["process or view", "status", "events behind", "behind by", ""], rows));
}

async function deadLetters(into, section) {
  const found = await api("GET", "/v1/admin/dead-letters");
  const views = found.items.filter((v) => v.letters.length);
  if (!views.length) return replace(into, h("p", { class: "muted" }, "none: every event was applied"));
  replace(into, views.map((v) => h("div", { class: "dead-letters", "data-view": v.view },
    h("h3", {}, `${v.view}: ${v.letters.length}`),
    h("button", { type: "button", onclick: () => replay(v.view, into, section) }, `Replay ${v.view}`),
    table(["event", "from", "position", "attempts", "failed", "error"], v.letters.map((l) => h("tr", {},
      h("td", {}, l.event_type.split(".").pop()), h("td", {}, l.from), h("td", { class: "num" }, l.position),
      h("td", { class: "num" }, l.attempts), h("td", {}, when(l.failed_at)), h("td", { class: "error" }, l.error)))))));
}

async function replay(view, into) {
  try {
    const done = await api("POST", `/v1/admin/dead-letters/${view}/replay`, {});
    into.prepend(h("p", { class: "notice" }, `replayed ${done.read}: ${done.applied} applied, `
      + `${done.already_applied} already applied, ${done.failed_again} failed again`));
  } catch (error) {
    into.prepend(problem(error));
  }
}

async function processes(into) {
  const found = await api("GET", "/v1/admin/processes");
  if (!found.items.length) return replace(into, h("p", { class: "muted" }, found.note || "no supervised processes"));
  replace(into, table(["process", "state", "pid", "restarts", "last start", ""], found.items.map((p) => h("tr", {},
    h("td", {}, p.name), h("td", {}, badge(p.state)), h("td", { class: "num" }, p.pid ?? ""),
    h("td", { class: "num" }, p.restarts), h("td", {}, when(p.last_start)), h("td", { class: "muted" }, p.detail)))));
}

async function budgets(into) {
  const found = await api("GET", "/v1/budgets");
  if (!found.items.length) return replace(into, h("p", { class: "muted" }, "no tokens charged yet"));
  replace(into, table(["persona", "day", "used", "limit", "remaining", "refused"], found.items.map((b) => h("tr", {},
    h("td", {}, b.persona_id), h("td", {}, b.day), h("td", { class: "num" }, b.used),
    h("td", { class: "num" }, b.limit ?? "none"), h("td", { class: "num" }, b.remaining ?? ""),
    h("td", { class: "num" }, b.refused)))));
}
