// The dashboard: hash routes (#/, #/runs, #/runs/ID, #/deploys/APP, #/logs, #/traffic) so every
// page's address can be shared; each page is redrawn from the API in place (no reload).
import {el} from "./dom.js";
import {overview} from "./overview.js";
import {runs} from "./runs.js";
import {runPage} from "./run.js";
import {deploys} from "./deploys.js";
import {logs} from "./logs.js";
import {traffic} from "./traffic.js";

// [pattern, page, nav item, refresh every ms (0: the page updates itself)]
const ROUTES = [
  [/^\/?$/, overview, "overview", 2000],
  [/^\/runs$/, runs, "runs", 2000],
  [/^\/runs\/(?<id>\d+)$/, runPage, "runs", 0],
  [/^\/deploys(?:\/(?<app>[^/]+))?$/, deploys, "deploys", 3000],
  [/^\/logs$/, logs, "logs", 0],
  [/^\/traffic$/, traffic, "traffic", 5000],
];

const main = document.getElementById("main");
const stamp = document.getElementById("stamp");
let current = {dispose: null, timer: null, generation: 0};

function parseHash() {
  const h = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const q = h.indexOf("?");
  return {path: q < 0 ? h : h.slice(0, q), query: new URLSearchParams(q < 0 ? "" : h.slice(q + 1))};
}

// Replaces the page's content, keeping the focus on the same control (data-key) so a
// keyboard user is not thrown out by a refresh.
function show(nodes) {
  const key = document.activeElement && main.contains(document.activeElement)
    ? document.activeElement.getAttribute("data-key") : null;
  main.replaceChildren(...nodes);
  if (key) {
    const again = main.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

function dialogOpen() {
  return [...document.querySelectorAll("dialog")].some(d => d.open);
}

async function render(route, params, query, generation, first) {
  if (!first && dialogOpen()) return;  // never redraw under an open dialog
  try {
    const out = await route[1](params, query);
    if (generation !== current.generation) {
      if (out && out.dispose) out.dispose();
      return;
    }
    if (Array.isArray(out)) show(out);
    else {
      show(out.nodes);
      current.dispose = out.dispose;
    }
    stamp.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (generation !== current.generation) return;
    stamp.textContent = "daemon unreachable: " + e.message;
    if (first) show([el("h1", {}, "Gravity"), el("p", {class: "bad"}, e.message)]);
  }
}

function navigate() {
  if (current.dispose) current.dispose();
  clearInterval(current.timer);
  const generation = ++current.generation;
  current = {dispose: null, timer: null, generation};
  const {path, query} = parseHash();
  const route = ROUTES.find(r => r[0].test(path));
  for (const a of document.querySelectorAll("nav a")) {
    if (route && a.dataset.page === route[2]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!route) {
    show([el("h1", {}, "Not found"), el("p", {}, "No page ", el("code", {}, path), ". "),
          el("a", {href: "#/"}, "Overview")]);
    return;
  }
  const params = path.match(route[0]).groups || {};
  render(route, params, query, generation, true).then(() => main.focus({preventScroll: true}));
  if (route[3]) {
    current.timer = setInterval(() => render(route, params, query, generation, false), route[3]);
  }
  window.onGravityRefresh = () => { if (route[3]) render(route, params, query, generation, false); };
}

window.addEventListener("hashchange", navigate);
window.addEventListener("gravity:refresh", () => window.onGravityRefresh && window.onGravityRefresh());
navigate();
