// Deploys: each deployment of an app as a timeline; for canaries the steps, weights and
// verdict, and whatever statistics the deployment JSON carries (drawn when present:
// numbers under a "baseline" key with a "canary" twin become paired bars).
import {get} from "./api.js";
import {el, short, age, duration, time, badge, kv, table} from "./dom.js";
import {timeline, groupedBars} from "./charts.js";
import {rollback} from "./actions.js";

// The phases a deployment record allows: new instances started (from the start to the
// proxy's hand-over), health checks through the proxy (hand-over to switch), then the
// old instances' drain until the record finished.
function phases(d) {
  const total = (d.finished_at_ms || Date.now()) - d.started_at_ms;
  const switchAt = d.duration_ms || total;
  const health = Math.min(d.switched_after_ms || 0, switchAt);
  const switched = d.status === "succeeded";
  const rows = [
    {label: d.kind === "rollback" ? "swap back" : "start instances",
     bars: [{start: 0, end: switchAt - health, cls: "running", title: `starting: ${duration(switchAt - health)}`,
             text: duration(switchAt - health)}]},
    {label: "health checks", bars: [{start: switchAt - health, end: switchAt, cls: switched ? "succeeded" : "failed",
      title: `health checks until the switch: ${duration(health)}`, text: duration(health)}]},
  ];
  if (switched) {
    rows.push({label: "swap + drain", bars: [{start: switchAt, end: Math.max(total, switchAt + 1),
      cls: "skipped", title: `traffic switched at ${duration(switchAt)}; done at ${duration(total)}`,
      text: duration(total - switchAt)}]});
  }
  return rows;
}

function numbers(obj, path = [], out = new Map()) {
  if (obj && typeof obj === "object") {
    for (const [k, v] of Object.entries(obj)) numbers(v, path.concat(k), out);
  } else if (typeof obj === "number") {
    out.set(path.join("."), obj);
  }
  return out;
}

// Pairs "x.baseline.y" with "x.canary.y" (or "baseline_y" with "canary_y").
function pairs(canary) {
  const flat = numbers(canary);
  const groups = [];
  for (const [path, base] of flat) {
    if (!/(^|\.|_)baseline(\.|_|$)/.test(path)) continue;
    const twin = path.replace(/baseline/, "canary");
    if (!flat.has(twin)) continue;
    groups.push({label: path.replace(/(^|\.|_)baseline(?=\.|_|$)/, "").replace(/^[._]/, "") || "value",
      values: [{name: "canary", value: flat.get(twin), cls: "canary"},
               {name: "baseline", value: base, cls: "baseline"}]});
  }
  return groups;
}

const fmt = v => (typeof v === "number" ? (Math.round(v * 1000) / 1000).toString() : String(v ?? ""));

// One step's analysis (deploy/canary_analysis): latency quantiles canary vs baseline and
// each metric's verdict with its p-value. Whatever is absent is left out.
function stepAnalysis(a, n) {
  if (!a || typeof a !== "object") return [];
  const out = [];
  const names = Array.isArray(a.quantiles) ? a.quantiles : [];
  const cq = Array.isArray(a.canary_latency_ms) ? a.canary_latency_ms : [];
  const bq = Array.isArray(a.baseline_latency_ms) ? a.baseline_latency_ms : [];
  if (cq.length || bq.length) {
    out.push(el("p", {class: "legend"}, `Step ${n}: latency, canary (amber) against baseline (blue), ms`));
    out.push(groupedBars(names.map((q, i) => ({label: q, values: [
      {name: "canary", value: cq[i] || 0, cls: "canary"}, {name: "baseline", value: bq[i] || 0, cls: "baseline"}]})),
      {label: `step ${n} latency quantiles`, format: v => fmt(v) + " ms"}));
  }
  const metrics = Array.isArray(a.metrics) ? a.metrics : [];
  if (metrics.length) {
    out.push(table(["metric", "verdict", "canary", "baseline", "p-value", "detail"], metrics.map(m => [
      m.name || "", m.verdict || "", fmt(m.canary), fmt(m.baseline),
      m.p_value !== undefined && m.p_value !== null ? Number(m.p_value).toPrecision(3) : "", m.detail || ""])));
  }
  return out;
}

function canarySection(c) {
  if (!c) return null;
  const parts = [el("h3", {}, "Canary")];
  const mainRate = c.main_requests ? (c.main_errors_5xx || 0) / c.main_requests : undefined;
  parts.push(kv([
    ["phase", c.phase], ["weight", c.weight !== undefined ? c.weight + "%" : ""],
    ["observed", c.duration_ms ? duration(c.duration_ms) : ""],
    ["requests", c.requests !== undefined ? `${c.requests} canary, ${c.main_requests || 0} main` : ""],
    ["error rate", c.error_rate !== undefined ? `${(c.error_rate * 100).toFixed(2)}% canary` +
      (mainRate !== undefined ? `, ${(mainRate * 100).toFixed(2)}% main` : "") +
      (c.max_error_rate !== undefined ? ` (max ${(c.max_error_rate * 100).toFixed(2)}%)` : "") : ""],
    ["verdict", c.verdict ? el("strong", {}, c.verdict) : ""],
  ]));
  const steps = Array.isArray(c.steps) ? c.steps : [];
  if (steps.length) {
    parts.push(table(["step", "weight", "observed", "decision", "score", "why"], steps.map((s, i) => {
      const a = s.analysis || {};
      const took = s.ended_at_ms && s.started_at_ms ? s.ended_at_ms - s.started_at_ms : s.duration_ms;
      return [String(i + 1), s.weight !== undefined ? s.weight + "%" : "",
              took ? duration(took) + (s.extensions ? ` (+${s.extensions} extension(s))` : "") : "",
              s.decision || a.decision || s.verdict || "", a.score !== undefined ? String(a.score) : "",
              a.reason || ""];
    })));
    steps.forEach((s, i) => parts.push(...stepAnalysis(s.analysis, i + 1)));
  }
  // Statistics in another shape: numbers with a baseline and a canary twin.
  const stats = steps.some(s => s.analysis) ? [] : pairs(c);
  if (stats.length) {
    parts.push(el("p", {class: "legend"}, "Canary (amber) against baseline (blue):"));
    parts.push(groupedBars(stats, {label: "canary statistics", format: v => (Math.round(v * 1000) / 1000).toString()}));
  }
  return el("div", {class: "canary"}, parts);
}

function deploymentCard(d) {
  return el("section", {class: "card", "data-deployment": d.id},
    el("h2", {}, el("span", {}, `#${d.id} ${d.kind} of `, el("code", {}, short(d.commit)), ` to ${d.environment}`), badge(d.status)),
    kv([["when", `${time(d.started_at_ms)} (${age(d.started_at_ms)})`],
        ["previous", d.previous_commit ? el("code", {}, short(d.previous_commit)) : ""],
        ["switched after", d.duration_ms ? duration(d.duration_ms) : ""]]),
    d.started_at_ms ? timeline(phases(d), {label: `deployment ${d.id}`}) : null,
    d.error ? el("pre", {class: "err"}, d.error) : null,
    canarySection(d.canary));
}

export async function deploys(params) {
  const status = await get("/v1/status");
  const apps = (status.apps || []).map(a => a.name);
  const app = params.app || apps[0];
  const out = [el("h1", {}, "Deploys")];
  if (!app) return out.concat(el("p", {class: "muted"}, "No apps in the stack."));
  const pick = el("select", {id: "deploy-app", "data-key": "deploy-app",
    onchange: e => { location.hash = "#/deploys/" + encodeURIComponent(e.target.value); }},
    apps.map(a => el("option", {value: a, selected: a === app}, a)));
  out.push(el("div", {class: "filters"}, el("label", {}, "App ", pick)));
  const data = await get(`/v1/apps/${encodeURIComponent(app)}/releases`);
  const envs = ((status.apps || []).find(a => a.name === app) || {}).environments || [];
  out.push(el("h2", {}, "Releases"));
  out.push(table(["commit", "live on", "warm on", "last deployed", ""], (data.releases || []).map(r => [
    el("code", {}, short(r.commit)), (r.live_on || []).join(", "), (r.warm_on || []).join(", "),
    el("span", {class: "muted"}, age(r.last_deployed_ms)),
    r.on_disk ? envs.filter(e => !(r.live_on || []).includes(e.name)).map(e =>
      el("button", {class: "secondary", "data-key": `to-${r.commit}-${e.name}`,
        onclick: () => rollbackTo(app, e.name, r.commit)}, `to ${e.name}…`)) : el("span", {class: "muted"}, "removed"),
  ])));
  out.push(el("h2", {}, "Deployments"));
  const list = data.deployments || [];
  if (!list.length) out.push(el("p", {class: "muted"}, "None yet."));
  out.push(el("div", {class: "list"}, list.slice(0, 30).map(deploymentCard)));
  return out;
}

function rollbackTo(app, env, commit) {
  return rollback(app, env, null, [commit]).then(() => {});
}
