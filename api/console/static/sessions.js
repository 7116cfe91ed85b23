// Sessions: the tenant's sessions, most recently active first, a page at a time; find one by id.

import { api } from "./api.js";
import { badge, h, problem, replace, short, when } from "./dom.js";

const PAGE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function render(main) {
  const status = h("div");
  const search = h("input", { name: "session", placeholder: "session id", "aria-label": "session id" });
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Sessions"),
      h("form", { class: "search", onsubmit: (e) => find(e, search.value.trim(), status) },
        search, h("button", { type: "submit" }, "Open"))),
    status,
    h("table", {}, h("thead", {}, h("tr", {}, ["session", "persona", "status", "messages", "last activity", ""]
      .map((c) => h("th", {}, c)))), body),
    more,
  );
  let cursor = null;
  async function load() {
    const query = new URLSearchParams({ limit: PAGE, ...(cursor ? { cursor } : {}) });
    const page = await api("GET", `/v1/sessions?${query}`);
    body.append(...page.items.map(row));
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "no sessions yet")));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => load().catch((error) => replace(status, problem(error))));
  await load();
}

async function find(e, id, status) {
  e.preventDefault();
  if (!UUID.test(id)) return replace(status, h("p", { class: "error" }, `"${id}" is not a session id (a UUID)`));
  try {
    await api("GET", `/v1/sessions/${id}`);
    location.hash = `#/sessions/${id.toLowerCase()}`;
  } catch (error) {
    replace(status, problem(error));
  }
}

function row(s) {
  return h("tr", { "data-session": s.session_id },
    h("td", {}, h("a", { href: `#/sessions/${s.session_id}`, title: s.session_id }, short(s.session_id))),
    h("td", {}, s.persona_id || ""), h("td", {}, badge(s.status)), h("td", { class: "num" }, s.messages),
    h("td", {}, when(s.last_activity)), h("td", {}, h("a", { href: `#/chat/${s.session_id}` }, "chat")));
}

