#include "api/dashboard.h"

namespace gravity::api {

namespace {

// Everything the page shows comes from the JSON API and is inserted as text, never as
// markup, so names, commit subjects and errors cannot inject anything.
constexpr const char* kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gravity</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2330; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
  th { font-weight: 600; background: #eef0f4; }
  code { font: 12px ui-monospace, monospace; }
  .ok { color: #13795b; } .bad { color: #b42318; } .muted { color: #6b7280; }
  .err { white-space: pre-wrap; font: 12px ui-monospace, monospace; color: #b42318; }
  #stamp { float: right; font-size: 12px; }
</style>
</head>
<body>
<h1>Gravity <span id="stamp" class="muted"></span></h1>
<form id="login" hidden>This API listens beyond loopback and needs its token (state_dir/token):
<input id="token" type="password" autocomplete="off" size="48"> <button>Use token</button></form>
<h2>Environments</h2>
<table><thead><tr><th>app / env</th><th>live</th><th>instances</th><th>warm</th><th>last deployment</th></tr></thead>
<tbody id="envs"></tbody></table>
<h2>Runs</h2>
<table><thead><tr><th>#</th><th>app</th><th>commit</th><th>branch</th><th>status</th><th>stage</th><th>took</th><th>error</th></tr></thead>
<tbody id="runs"></tbody></table>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
  return tr;
}
function cell(children) {
  const td = document.createElement("td");
  for (const c of children) td.appendChild(c);
  return td;
}
const short = c => (c || "").slice(0, 7);
// The token, when the API asks for one, is kept for this browser session only.
async function getJson(path) {
  const headers = {};
  const token = sessionStorage.getItem("gravity-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, {cache: "no-store", headers});
  if (r.status === 401) {
    sessionStorage.removeItem("gravity-token");
    document.getElementById("login").hidden = false;
    throw new Error("the API needs its token");
  }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  document.getElementById("login").hidden = true;
  return r.json();
}
document.getElementById("login").addEventListener("submit", ev => {
  ev.preventDefault();
  const t = document.getElementById("token");
  if (t.value) sessionStorage.setItem("gravity-token", t.value.trim());
  t.value = "";
  refresh();
});
async function refresh() {
  try {
    const [status, runs] = await Promise.all([getJson("/v1/status"), getJson("/v1/runs?limit=25")]);
    const envs = document.getElementById("envs");
    envs.replaceChildren();
    for (const app of status.apps || []) {
      for (const env of app.environments || []) {
        const inst = [], warm = [];
        for (const i of env.instances || []) {
          const line = el("div", i.id + "  127.0.0.1:" + i.port + "  " + i.state + "  " + (i.health || ""),
                          i.health === "healthy" ? "ok" : (i.role === "live" ? "bad" : "muted"));
          (i.role === "live" ? inst : warm).push(line);
        }
        const d = env.last_deployment || {};
        envs.appendChild(row([
          app.name + " / " + env.name + (env.host && env.host !== "*" ? "  (" + env.host + ")" : ""),
          cell([el("code", short(env.live_release) || "—")]),
          cell(inst.length ? inst : [el("span", "none", "muted")]),
          cell(warm.length ? warm : [el("span", "—", "muted")]),
          cell([el("span", d.kind ? d.kind + " of " + short(d.commit) + ": " + d.status : "—",
                   d.status === "failed" ? "bad" : ""),
                ...(d.error ? [el("div", d.error, "err")] : [])]),
        ]));
      }
    }
    const tbody = document.getElementById("runs");
    tbody.replaceChildren();
    for (const r of runs.runs || []) {
      const cls = r.status === "succeeded" ? "ok" : (r.status === "failed" ? "bad" : "muted");
      tbody.appendChild(row([r.id, r.app, cell([el("code", short(r.commit))]), r.branch,
                             cell([el("span", r.status, cls)]), r.stage,
                             r.duration_ms ? (r.duration_ms / 1000).toFixed(1) + " s" : "",
                             cell([el("div", r.error || "", "err")])]));
    }
    document.getElementById("stamp").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("stamp").textContent = "daemon unreachable: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace

void AddDashboardRoutes(Router& router) {
  auto page = [](const Request&) {
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kPage;
    r.headers.push_back({"Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; "
                         "style-src 'unsafe-inline'; connect-src 'self'"});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    return r;
  };
  // The page holds no data (it asks the API, with the token when the API needs one).
  router.Add("GET", "/", page, Auth::kNone);
  router.Add("GET", "/dashboard", page, Auth::kNone);
}

}  // namespace gravity::api
