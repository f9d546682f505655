// Traffic: requests/s, error rate (5xx share) and p50/p99 latency per environment and pool
// over the last hour, from the daemon's traffic history (GET /v1/traffic). One app at a
// time (#/traffic?app=A; the first app by default); redrawn in place by the router.
import {get} from "./api.js";
import {el, duration} from "./dom.js";
import {lineChart} from "./charts.js";

const HOUR = 3600 * 1000;
// The colour class of a pool (any other pool name gets a third colour).
const poolClass = name => ["main", "canary", "baseline"].includes(name) ? name : "other";

const rate = v => v >= 100 ? v.toFixed(0) + "/s" : v >= 10 ? v.toFixed(1) + "/s" : v.toFixed(2) + "/s";
const percent = v => (v * 100).toFixed(v >= 0.1 ? 0 : 1) + "%";
const ms = v => v >= 100 ? v.toFixed(0) + " ms" : v.toFixed(1) + " ms";

// The chart of one metric: a line per pool (and per quantile for latency).
function metricChart(data, metric, title, format, lines) {
  const from = data.to - data.span;
  const series = [];
  for (const pool of data.pools) {
    for (const [key, suffix, cls] of lines) {
      series.push({name: pool.pool + suffix, cls: poolClass(pool.pool) + cls,
                   points: pool.points.filter(p => p.t >= from).map(p => ({t: p.t, v: p[key]}))});
    }
  }
  const chart = lineChart(series, {label: `${data.env}: ${title}`, format, from, to: data.to,
                                   gap: 2.5 * data.resolution_ms});
  chart.setAttribute("data-metric", metric);
  return el("figure", {class: "traffic-chart"}, el("figcaption", {}, title), chart);
}

function legend(pools) {
  return el("p", {class: "legend"}, pools.map(p => [
    el("span", {class: "swatch swatch-" + poolClass(p.pool)}), p.pool, " "]),
    "— latency: solid p50, dashed p99");
}

function latest(pool) {
  const p = pool.points[pool.points.length - 1];
  return p ? `${pool.pool}: ${rate(p.requests_per_s)}, ${percent(p.error_rate)} errors, ` +
             `p50 ${ms(p.p50_ms)}, p99 ${ms(p.p99_ms)}` : "";
}

function environment(data) {
  const section = el("section", {class: "card traffic-env", "data-env": data.env},
    el("h2", {}, data.env, el("span", {class: "muted"}, "a point every " + duration(data.resolution_ms))));
  const pools = data.pools.filter(p => p.points.length > 0);
  const any = pools.some(p => p.points.some(pt => pt.requests > 0));
  if (!any) {
    section.append(el("p", {class: "notice traffic-empty"}, "No traffic recorded yet for " +
      data.env + " (the history keeps the last hour, one point every " +
      duration(data.resolution_ms) + ")."));
    return section;
  }
  const shown = Object.assign({}, data, {pools});
  section.append(
    legend(pools),
    el("div", {class: "traffic-charts"},
      metricChart(shown, "requests", "Requests/s", rate, [["requests_per_s", "", ""]]),
      metricChart(shown, "errors", "Error rate (5xx)", percent, [["error_rate", "", ""]]),
      metricChart(shown, "latency", "Latency p50 / p99", ms,
                  [["p50_ms", " p50", ""], ["p99_ms", " p99", " p99"]])),
    el("p", {class: "muted"}, pools.map(latest).join(" · ")));
  return section;
}

export async function traffic(_params, query) {
  const apps = (await get("/v1/apps")).apps || [];
  if (apps.length === 0) return [el("h1", {}, "Traffic"), el("p", {class: "notice"}, "No apps in this stack.")];
  const app = apps.find(a => a.name === query.get("app")) || apps[0];
  const select = el("select", {id: "traffic-app", "aria-label": "app", "data-key": "traffic-app"},
    apps.map(a => el("option", {value: a.name, selected: a.name === app.name}, a.name)));
  select.addEventListener("change", () => {
    location.hash = "#/traffic?app=" + encodeURIComponent(select.value);
  });
  const sections = [];
  for (const env of app.environments || []) {
    const data = await get("/v1/traffic?app=" + encodeURIComponent(app.name) +
                           "&env=" + encodeURIComponent(env.name));
    const newest = Math.max(0, ...data.pools.flatMap(p => p.points.map(pt => pt.t)));
    data.span = Math.min(HOUR, data.resolution_ms * data.capacity);
    data.to = Math.max(newest, Date.now());
    sections.push(environment(data));
  }
  if (sections.length === 0) sections.push(el("p", {class: "notice"}, "This app has no environments."));
  return [el("h1", {}, "Traffic"),
          el("div", {class: "filters"}, el("label", {}, "App ", select)),
          el("div", {class: "list"}, sections)];
}
