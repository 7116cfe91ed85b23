// Building the page: elements from data, always as text (never markup), so nothing the API returns can run.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const short = (id) => (id ? String(id).slice(0, 8) : "");

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export const json = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));

export function problem(error) {
  const field = error.problem?.field ? ` (${error.problem.field})` : "";
  return h("p", { class: "error", role: "alert" }, `${error.message}${field}`);
}

export function table(columns, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))), h("tbody", {}, rows));
}

export function badge(text) {
  return h("span", { class: `badge ${String(text).replace(/[^a-z_]/g, "")}` }, text);
}
