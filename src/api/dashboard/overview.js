// Overview: every app and environment, what is live and warm, instance health, the
// deployment in progress, certificates near expiry.
import {get, getOptional} from "./api.js";
import {el, short, age, duration, time, badge, kv, statusClass} from "./dom.js";
import {rollback, promote, deployRef, pause, resume} from "./actions.js";

const CERT_WARN_DAYS = 21;

function instanceList(list, role) {
  if (!list || !list.length) return el("span", {class: "muted"}, "none");
  return el("ul", {class: "plain", "data-role": role}, list.map(i => el("li", {class: "mono"},
    i.id, " ", i.port ? ":" + i.port : "", " ", badge(i.health || i.state, statusClass(i.health || i.state)),
    i.state && i.state !== "running" ? [" ", badge(i.state)] : null,
    i.health_error ? el("div", {class: "err"}, i.health_error) : null)));
}

// "subject — author" of a commit, from the runs that built it.
function subjectOf(commit, runs) {
  const r = (runs || []).find(r => r.commit === commit && r.subject);
  if (!r) return "";
  return r.author ? `${r.subject} — ${r.author}` : r.subject;
}

function deploymentLine(d) {
  if (!d) return null;
  const running = d.status === "running";
  return el("span", {},
    badge(running ? `${d.kind}: ${d.step}` : `${d.kind} ${d.status}`, running ? "run" : statusClass(d.status)),
    " ", short(d.commit), " ", el("span", {class: "muted"}, age(d.started_at_ms)),
    d.error ? el("div", {class: "err"}, d.error) : null);
}

function canaryLine(c) {
  if (!c) return null;
  return el("span", {}, `${c.phase || ""} at weight ${c.weight}% — ${c.requests || 0} requests, ` +
            `error rate ${((c.error_rate || 0) * 100).toFixed(2)}%`, c.verdict ? " — " + c.verdict : "");
}

function envCard(app, env, runs, warmUntilText, pipeline) {
  const warm = env.warm;  // {commit, until_ms, instances:[...]} or null
  const paused = pipeline && pipeline.paused;
  const card = el("section", {class: "card", "data-env": `${app.name}/${env.name}`},
    el("h2", {}, el("span", {}, `${app.name} / ${env.name}`),
      el("span", {class: "muted mono"}, env.host && env.host !== "*" ? env.host : (env.branch || ""))),
    kv([
      ["live", env.live_release
        ? el("span", {"data-field": "live"}, el("code", {}, short(env.live_release)), " ",
             subjectOf(env.live_release, runs), " ",
             el("span", {class: "muted"}, env.live_since_ms ? "since " + age(env.live_since_ms) : ""))
        : el("span", {class: "muted", "data-field": "live"}, "nothing live")],
      ["instances", el("span", {"data-field": "instances"},
        `${(env.instances || []).length} of ${env.instances_wanted}`, instanceList(env.instances, "live"))],
      ["warm", warm
        ? el("span", {"data-field": "warm"}, el("code", {}, short(warm.commit)), " ",
             subjectOf(warm.commit, runs), " ",
             el("span", {class: "muted"}, `${(warm.instances || []).length} instance(s), ` + warmUntilText(warm.until_ms)),
             instanceList(warm.instances, "warm"))
        : el("span", {class: "muted", "data-field": "warm"}, "—")],
      ["deployment", deploymentLine(env.last_deployment)],
      ["canary", canaryLine(env.canary)],
      ["proxy", env.proxy_error ? el("span", {class: "bad"}, env.proxy_error) : null],
      ["automatic", env.branch ? el("span", {"data-field": "paused"}, paused
        ? [badge("paused", "warn"), " since ", age(pipeline.paused_ms), pipeline.missed ? " — new commits waiting" : ""]
        : `deploys every green commit of ${env.branch}`) : null],
    ]),
    el("div", {class: "actions"},
      el("button", {class: "secondary", "data-key": `deploy-${app.name}-${env.name}`,
                    onclick: () => deployRef(app.name, env.name)}, "Deploy a ref…"),
      el("button", {class: "secondary", "data-key": `rollback-${app.name}-${env.name}`,
                    "data-action": "rollback",
                    onclick: () => rollback(app.name, env.name, warm && warm.commit, app.releases)}, "Roll back…"),
      env.promote_from ? el("button", {class: "secondary", "data-key": `promote-${app.name}-${env.name}`,
                                        onclick: () => promote(app.name, env.name, env.promote_from)},
                            `Promote from ${env.promote_from}…`) : null,
      env.branch ? el("button", {class: "secondary", "data-key": `pause-${app.name}-${env.name}`,
                                 "data-action": paused ? "resume" : "pause",
                                 onclick: () => (paused ? resume : pause)(app.name, env.name)},
                      paused ? "Resume automatic deploys…" : "Pause automatic deploys…") : null,
      el("a", {href: `#/deploys/${encodeURIComponent(app.name)}`}, "deployments")));
  return card;
}

function certExpiry(c) {
  let t = c.not_after || 0;
  if (t && t < 1e12) t *= 1000;  // seconds
  return t;
}

export async function overview() {
  const [status, runs, certs, apps] = await Promise.all([
    get("/v1/status"), get("/v1/runs?limit=100"), getOptional("/v1/certs"), get("/v1/apps")]);
  const pipelineEnv = (app, env) => {
    const a = (apps.apps || []).find(x => x.name === app);
    return a && (a.environments || []).find(e => e.name === env);
  };
  const runList = runs.runs || [];
  // The commits each app has run, newest first: the choices of a rollback to a release.
  for (const app of status.apps || []) {
    app.releases = [...new Set(runList.filter(r => r.app === app.name && r.status === "succeeded").map(r => r.commit))];
  }
  const warmUntil = ms => !ms ? "kept warm" : (ms > Date.now() ? "warm for " + duration(ms - Date.now()) + " more" : "warm time over");
  const out = [el("h1", {}, "Overview")];
  const cards = el("div", {class: "cards"});
  for (const app of status.apps || []) {
    for (const env of app.environments || []) cards.append(envCard(app, env, runList, warmUntil, pipelineEnv(app.name, env.name)));
  }
  if (!cards.children.length) cards.append(el("p", {class: "muted"}, "No apps in the stack."));
  out.push(cards);
  const list = (certs && certs.certificates) || [];
  const soon = list.filter(c => {
    const t = certExpiry(c);
    return c.error || (t && t - Date.now() < CERT_WARN_DAYS * 86400e3);
  });
  out.push(el("h2", {}, "Certificates"));
  if (!list.length) out.push(el("p", {class: "muted"}, "No HTTPS hosts."));
  else if (!soon.length) out.push(el("p", {class: "ok"}, `${list.length} certificate(s), none expiring within ${CERT_WARN_DAYS} days.`));
  else out.push(el("ul", {}, soon.map(c => el("li", {class: "bad"},
    `${c.host}: `, certExpiry(c) ? `expires ${time(certExpiry(c))}` : "no certificate",
    c.error ? ` — ${c.error}` : ""))));
  const recent = runList.slice(0, 5);
  if (recent.length) {
    out.push(el("h2", {}, "Latest runs"));
    out.push(el("ul", {class: "plain"}, recent.map(r => el("li", {},
      el("a", {href: "#/runs/" + r.id}, "#" + r.id), " ", r.app, " ", el("code", {}, short(r.commit)), " ",
      r.subject || "", " ", badge(r.status), " ", el("span", {class: "muted"}, age(r.created_ms))))));
  }
  return out;
}
