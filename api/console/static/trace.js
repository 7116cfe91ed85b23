// A trace as a waterfall: each span a bar placed by its start and length within the whole trace.

import { api } from "./api.js";
import { h } from "./dom.js";

export async function render(main, [traceId]) {
  const trace = await api("GET", `/v1/traces/${traceId}`);
  const spans = trace.spans;
  const total = Math.max(...spans.map((s) => s.offset_ms + s.duration_ms), 0.001);
  const depth = depths(spans);
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Trace"), h("code", { class: "muted" }, traceId)),
    h("p", { class: "muted" }, `${spans.length} span(s) over ${total.toFixed(1)} ms`),
    h("div", { class: "waterfall", role: "table" }, spans.map((s) => bar(s, total, depth.get(s.span_id)))),
  );
}

function depths(spans) {
  const parent = new Map(spans.map((s) => [s.span_id, s.parent_span_id]));
  const depth = new Map();
  const of = (id, seen = 0) => (parent.get(id) && seen < 64 ? 1 + of(parent.get(id), seen + 1) : 0);
  for (const s of spans) depth.set(s.span_id, of(s.span_id));
  return depth;
}

function bar(s, total, depth) {
  const fill = h("span", { class: `bar${s.status === "error" ? " failed" : ""}` });
  fill.style.marginLeft = `${(100 * s.offset_ms) / total}%`; // CSSOM, which the style policy allows
  fill.style.width = `${Math.max((100 * s.duration_ms) / total, 0.3)}%`;
  const label = h("span", { class: "span-name", title: JSON.stringify(s.attributes || {}) }, s.name);
  label.style.paddingLeft = `${depth}em`;
  return h("div", { class: "span", role: "row", "data-span": s.span_id },
    h("span", { class: "service muted" }, s.service), label,
    h("span", { class: "track" }, fill), h("span", { class: "num" }, `${s.duration_ms.toFixed(2)} ms`));
}
