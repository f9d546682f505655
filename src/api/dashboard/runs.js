// Runs: the pipeline's runs, newest first.
import {get} from "./api.js";
import {el, short, age, duration, badge, table} from "./dom.js";

export async function runs(params, query) {
  const app = query.get("app") || "";
  const data = await get("/v1/runs?limit=100" + (app ? "&app=" + encodeURIComponent(app) : ""));
  const list = data.runs || [];
  const out = [el("h1", {}, app ? `Runs of ${app}` : "Runs")];
  if (!list.length) {
    out.push(el("p", {class: "muted"}, "No runs yet."));
    return out;
  }
  out.push(table(["#", "app", "commit", "status", "stage", "took", "when"], list.map(r => [
    el("a", {href: "#/runs/" + r.id, "data-key": "run-" + r.id}, "#" + r.id),
    el("a", {href: "#/runs?app=" + encodeURIComponent(r.app)}, r.app),
    [el("code", {}, short(r.commit)), " ", r.subject || "", r.branch ? el("span", {class: "muted"}, " on " + r.branch) : null],
    badge(r.status),
    [r.stage || "", r.error ? el("div", {class: "err"}, r.error.split("\n")[0]) : null],
    r.duration_ms ? duration(r.duration_ms) : (r.started_ms && !r.done ? duration(Date.now() - r.started_ms) + "…" : ""),
    el("span", {class: "muted"}, age(r.created_ms)),
  ])));
  return out;
}
