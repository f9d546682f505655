// Actions that change something: each asks for confirmation in a dialog, needs the
// token (api.post) and says what happened.
import {post, ApiError} from "./api.js";
import {el, short, duration, toast} from "./dom.js";

// Shows the confirmation dialog with `body` (nodes); true when confirmed.
export function confirmDialog(title, body, okLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-body").replaceChildren(...body);
  document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
  dialog.returnValue = "";
  return new Promise(resolve => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
    dialog.showModal();
    document.getElementById("confirm-ok").focus();
  });
}

function outcomeText(what, r) {
  const parts = [what + ": done"];
  if (r.commit) parts.push(short(r.commit) + " is live");
  if (r.reused_warm) parts.push("swapped to the warm instances");
  if (r.duration_ms) parts.push("in " + duration(r.duration_ms));
  if (r.deployment) parts.push("deployment #" + r.deployment);
  return parts.join(", ");
}

async function run(what, path, body, describe, after) {
  try {
    const r = await post(path, body);
    toast(describe ? describe(r) : outcomeText(what, r));
    if (after) after(r);
    return r;
  } catch (e) {
    toast(what + " failed: " + e.message, true);
    if (e instanceof ApiError && e.status === 401) return null;
    return null;
  } finally {
    window.dispatchEvent(new Event("gravity:refresh"));
  }
}

export async function rollback(app, env, warm, releases) {
  const select = el("select", {id: "rollback-to"},
    el("option", {value: ""}, warm ? `the warm release ${short(warm)} (instant)` : "the previous release"),
    (releases || []).map(c => el("option", {value: c}, short(c))));
  const ok = await confirmDialog(`Roll back ${app} / ${env}?`, [
    el("p", {}, "Traffic moves to the release chosen here; the current instances are drained."),
    el("label", {}, "Back to ", select)], "Roll back");
  if (!ok) return null;
  return run(`Rollback of ${app}/${env}`, `/v1/apps/${encodeURIComponent(app)}/rollback`,
             {env, to: select.value});
}

export async function promote(app, env, from) {
  const ok = await confirmDialog(`Promote to ${app} / ${env}?`, [
    el("p", {}, `The release live on ${from} is deployed to ${env} (no rebuild).`)], "Promote");
  if (!ok) return null;
  return run(`Promotion to ${app}/${env}`, `/v1/apps/${encodeURIComponent(app)}/promote`, {to: env});
}

export async function deployRef(app, env) {
  const input = el("input", {id: "deploy-ref", placeholder: "branch, tag or commit", autocomplete: "off"});
  const ok = await confirmDialog(`Deploy ${app} / ${env}?`, [
    el("p", {}, "Runs the pipeline (checkout, build, tests, deploy) for a ref now. Empty: the environment's branch."),
    el("label", {}, "Ref ", input)], "Deploy");
  if (!ok) return null;
  const body = {env};
  if (input.value.trim()) body.ref = input.value.trim();
  return run(`Deploy of ${app}/${env}`, `/v1/apps/${encodeURIComponent(app)}/deploy`, body,
             r => `Deploy of ${app}/${env}: run #${r.run} queued for ${short(r.commit)}`,
             r => { location.hash = "#/runs/" + r.run; });
}

export async function pause(app, env) {
  const ok = await confirmDialog(`Pause automatic deploys of ${app} / ${env}?`, [
    el("p", {}, "New commits on its branch (polling, webhooks) are left alone until resumed; what is live stays. A deploy asked for here still runs.")],
    "Pause");
  if (!ok) return null;
  return run(`Pause of ${app}/${env}`,
             `/v1/apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(env)}/pause`, {},
             () => `Automatic deploys of ${app}/${env} paused`);
}

export async function resume(app, env) {
  const ok = await confirmDialog(`Resume automatic deploys of ${app} / ${env}?`, [
    el("p", {}, "If its branch moved while paused, its tip is deployed now.")], "Resume");
  if (!ok) return null;
  return run(`Resume of ${app}/${env}`,
             `/v1/apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(env)}/resume`, {},
             r => `Automatic deploys of ${app}/${env} resumed` + (r.run ? `; run #${r.run} queued for what came in meanwhile` : ""));
}
