// Small DOM helpers. Everything that comes from the API goes in as text (textContent or
// attribute values), never as markup.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.setAttribute("class", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const short = c => (c || "").slice(0, 7);

export function duration(ms) {
  if (ms === undefined || ms === null || ms < 0) return "";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + Math.round(s % 60) + "s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

export function age(ms) {
  if (!ms) return "";
  return duration(Date.now() - ms) + " ago";
}

export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}

export function statusClass(s) {
  if (s === "succeeded" || s === "healthy" || s === "passed" || s === "live" || s === "done") return "ok";
  if (s === "failed" || s === "unhealthy" || s === "crashed" || s === "gone") return "bad";
  if (s === "running" || s === "queued" || s === "starting") return "run";
  return "";
}

export function badge(text, cls) {
  return el("span", {class: "badge " + (cls === undefined ? statusClass(text) : cls)}, text);
}

export function kv(pairs) {
  const dl = el("dl", {class: "kv"});
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === "") continue;
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  return dl;
}

export function table(headers, rows) {
  return el("div", {class: "table-wrap"},
    el("table", {},
      el("thead", {}, el("tr", {}, headers.map(h => el("th", {scope: "col"}, h)))),
      el("tbody", {}, rows.map(r => el("tr", {}, r.map(c => el("td", {}, c)))))));
}

export function toast(text, bad) {
  const t = el("div", {class: "toast" + (bad ? " bad" : ""), role: "status"}, text);
  document.getElementById("toasts").append(t);
  setTimeout(() => t.remove(), bad ? 15000 : 8000);
}
