// The console's shell: sign-in, navigation between pages by the URL's fragment, one page at a time.

import { api, credential } from "./api.js";
import { h, problem, replace } from "./dom.js";
import * as chat from "./chat.js";
import * as sessions from "./sessions.js";
import * as timeline from "./timeline.js";
import * as trace from "./trace.js";
import * as operations from "./operations.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const ROUTES = [
  [/^#\/chat(?:\/([0-9a-f-]{36}))?$/, chat, "chat"],
  [/^#\/sessions$/, sessions, "sessions"],
  [/^#\/sessions\/([0-9a-f-]{36})$/, timeline, "sessions"],
  [/^#\/traces\/([0-9a-f]{32})$/, trace, "sessions"],
  [/^#\/operations$/, operations, "operations"],
];
let leaving = new AbortController();

function signIn() {
  nav.hidden = true;
  const kind = h("select", { name: "kind", "aria-label": "credential kind" },
    h("option", { value: "key" }, "API key"), h("option", { value: "jwt" }, "JWT (bearer token)"));
  const secret = h("input", { name: "secret", type: "password", autocomplete: "off", required: true,
    placeholder: "alk_… or eyJ…", "aria-label": "API key or token" });
  const status = h("div");
  const form = h("form", { class: "card sign-in", onsubmit: async (e) => {
    e.preventDefault();
    credential.set(kind.value, secret.value.trim());
    try {
      await api("GET", "/v1/sessions?limit=1");
      secret.value = "";
      route();
    } catch (error) {
      credential.clear();
      replace(status, problem(error));
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", { class: "muted" }, "The key stays in this tab only: closing the tab signs you out."),
  h("label", {}, "Credential ", kind), h("label", {}, "Secret ", secret),
  h("button", { type: "submit" }, "Sign in"), status);
  replace(main, form);
  secret.focus();
}

function route() {
  leaving.abort();
  leaving = new AbortController();
  if (!credential.get()) return signIn();
  nav.hidden = false;
  replace(document.getElementById("who"), credential.get().kind === "jwt" ? "signed in (JWT)" : "signed in (API key)");
  const hash = location.hash || "#/chat";
  for (const [pattern, page, tab] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.dataset.page === tab);
    replace(main);
    page.render(main, match.slice(1), leaving.signal).catch((error) => {
      if (error.name !== "AbortError") main.append(problem(error));
    });
    return;
  }
  replace(main, h("p", { class: "error" }, `No page at ${hash}. `), h("a", { href: "#/chat" }, "Go to the chat"));
}

document.getElementById("sign-out").addEventListener("click", () => {
  credential.clear();
  location.hash = "#/chat";
  route();
});
window.addEventListener("agentlog:unauthorized", () => {
  if (nav.hidden) return; // the sign-in form says it itself
  credential.clear();
  route();
});
window.addEventListener("hashchange", route);
route();
