// The dashboard in Debian's Chromium (playwright-core, no downloaded browser) against a
// real stack (stack.mjs): what it shows agrees with the API, a run's output streams in
// while it runs, a failing test's output is open, a rollback clicked in the page happens,
// an action with a wrong token is refused, and no page logs an error. A screenshot of each
// page goes to build/browser-screenshots/.
import {test, before, after} from "node:test";
import assert from "node:assert/strict";
import {mkdirSync, mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {chromium} from "playwright-core";
import {Stack, ROOT, waitFor} from "./stack.mjs";

const SHOTS = join(process.env.GRAVITY_BUILD_DIR || join(ROOT, "build"), "browser-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const short = c => c.slice(0, 7);

const stack = new Stack();
let browser;
let profile;

before(async () => {
  mkdirSync(SHOTS, {recursive: true});
  await stack.start();
  profile = mkdtempSync(join(tmpdir(), "gravity-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: {width: 1280, height: 900},
  });
}, {timeout: 240_000});

after(async () => {
  if (browser) await browser.close();
  if (profile) rmSync(profile, {recursive: true, force: true});
  await stack.stop();
}, {timeout: 90_000});

// A new tab (so a fresh sessionStorage: no token) that records console errors and page
// errors. `allowed` lists URL endings whose failed loads this test expects (a 401 it
// provokes, the 404 of an endpoint this daemon lacks).
async function open(hash, allowed = []) {
  const page = await browser.newPage();
  page.errors = [];
  page.on("console", m => {
    if (m.type() !== "error") return;
    const url = (m.location() && m.location().url) || "";
    if (allowed.some(a => url.endsWith(a))) return;
    page.errors.push(`console: ${m.text()} (${url})`);
  });
  page.on("pageerror", e => page.errors.push(`pageerror: ${e.message}`));
  await page.goto(stack.base + "/" + hash);
  return page;
}

async function done(page, shot) {
  if (shot) await page.screenshot({path: join(SHOTS, shot + ".png"), fullPage: true});
  const errors = page.errors;
  await page.close();
  assert.deepEqual(errors, [], "errors in the page");
}

test("a second release goes live and the first stays warm", {timeout: 120_000}, async () => {
  const first = (await stack.status()).live_release;
  assert.ok(first, "the first release is live after up");
  const second = stack.commit("Second page", {"public/index.html": "<h1>Hello v2</h1>\n"});
  const env = await waitFor(async () => {
    const e = await stack.status();
    return e.live_release === second && e.warm && e.warm.commit === first ? e : null;
  }, 100_000, "the second release live, the first warm");
  assert.equal(env.warm.instances.length, 2);
});

test("overview shows the live and the warm release as /v1/status does", {timeout: 60_000}, async () => {
  const env = await stack.status();
  const page = await open("#/");
  const card = page.locator('[data-env="site/staging"]');
  await card.locator('[data-field="live"] code').waitFor();
  assert.equal(await card.locator('[data-field="live"] code').textContent(), short(env.live_release));
  // The bug this guards against: the page looked for warm instances in a list where the
  // API gives an object, and showed "—".
  const warm = card.locator('[data-field="warm"]');
  assert.equal(await warm.locator("code").textContent(), short(env.warm.commit));
  assert.match(await warm.textContent(), /2 instance\(s\)/);
  assert.equal(await warm.locator('[data-role="warm"] li').count(), 2);
  assert.match(await card.locator('[data-field="live"]').textContent(), /Second page — Browser Test/);
  assert.equal(await card.locator('[data-role="live"] li').count(), env.instances.length);
  assert.match(await warm.textContent(), /warm for .* more/);
  await done(page, "overview");
});

test("overview is readable on a phone", {timeout: 30_000}, async () => {
  const page = await open("#/");
  await page.setViewportSize({width: 390, height: 844});
  await page.locator('[data-env="site/staging"] [data-field="live"] code').waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (page is ${width}px wide)`);
  await done(page, "overview-phone");
});

test("a pushed commit's run shows its output while it runs", {timeout: 150_000}, async () => {
  const commit = stack.commit("A slow build", {"slow": "1\n"});
  const run = await stack.runOf(commit);
  const page = await open(`#/runs/${run.id}`);
  const log = page.locator("#run-log");
  await log.filter({hasText: "build step 1"}).waitFor({timeout: 60_000});
  const during = (await stack.api(`/v1/runs/${run.id}`)).body;
  assert.equal(during.status, "running", "the first lines are shown before the run ends");
  assert.ok(!(await log.textContent()).includes("build step 8"));
  // More lines arrive without a reload.
  await log.filter({hasText: "build step 4"}).waitFor({timeout: 30_000});
  assert.equal(await page.locator("#stream-state").textContent(), "live");
  await page.locator("h1 .badge", {hasText: "succeeded"}).waitFor({timeout: 100_000});
  assert.match(await log.textContent(), /\[tests\/b_test\.sh\] b: the answer is 42/);
  assert.equal(await page.locator("svg.chart").count(), 2, "stages and workers drawn");
  assert.equal(await page.locator("#stream-state").textContent(), "finished");
  await done(page, "run");
  await waitFor(async () => (await stack.status()).live_release === commit, 60_000, "the slow build live");
});

test("a failing test's output is shown, opened", {timeout: 150_000}, async () => {
  const commit = stack.commit("Break the answer", {"fail": "1\n", "slow": null});
  const run = await stack.runOf(commit);
  await waitFor(async () => (await stack.api(`/v1/runs/${run.id}`)).body.done, 120_000, "the run to end");
  const page = await open(`#/runs/${run.id}`);
  const failed = page.locator('details[data-file="tests/b_test.sh"]');
  await failed.waitFor();
  assert.equal(await failed.getAttribute("open"), "");
  await failed.locator("pre", {hasText: "expected the answer 42, got 41"}).waitFor();
  assert.match(await page.locator("#run-error").textContent(), /tests\/b_test\.sh/);
  assert.equal(await page.locator('details[data-file="tests/a_test.sh"]').count(), 0);
  await done(page, "run-failed");
});

test("the runs list links every run", {timeout: 30_000}, async () => {
  const runs = (await stack.api("/v1/runs?app=site")).body.runs;
  const page = await open("#/runs");
  await page.locator(`a[href="#/runs/${runs[0].id}"]`).waitFor();
  assert.equal(await page.locator('a[href^="#/runs/"]').count(), runs.length);
  await done(page, "runs");
});

test("an action with a wrong token is refused and changes nothing", {timeout: 60_000}, async () => {
  const before = await stack.status();
  const page = await open("#/", ["/rollback"]);
  await page.locator('[data-env="site/staging"] [data-field="live"] code').waitFor();
  await page.locator('[data-action="rollback"]').click();
  await page.locator("#confirm-ok").click();
  await page.locator("#token-dialog[open]").waitFor();
  await page.fill("#token-input", "not-the-token");
  await page.locator("#token-ok").click();
  await page.locator(".toast.bad", {hasText: "refused"}).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("gravity-token")), null);
  // A read without the token still works on loopback; nothing moved.
  const after = await stack.status();
  assert.equal(after.live_release, before.live_release);
  assert.equal(after.warm.commit, before.warm.commit);
  await done(page);
});

test("a rollback clicked in the page happens and the page shows it", {timeout: 90_000}, async () => {
  const before = await stack.status();
  const target = before.warm.commit;
  const page = await open("#/");
  const card = page.locator('[data-env="site/staging"]');
  await card.locator('[data-field="live"] code').waitFor();
  await page.locator('[data-action="rollback"]').click();
  await page.locator("#confirm[open]").waitFor();
  await page.locator("#confirm-ok").click();
  await page.fill("#token-input", stack.token);
  await page.locator("#token-ok").click();
  await page.locator(".toast", {hasText: "Rollback of site/staging: done"}).waitFor({timeout: 60_000});
  await card.locator('[data-field="live"] code', {hasText: short(target)}).waitFor({timeout: 10_000});
  const after = await stack.status();
  assert.equal(after.live_release, target, "/v1/status agrees");
  assert.equal(after.warm.commit, before.live_release, "the release rolled back from stays warm");
  assert.equal(await card.locator('[data-field="warm"] code').textContent(), short(before.live_release));
  // The token is kept for this session only: a second action does not ask again.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("gravity-token")), stack.token);
  await done(page, "overview-after-rollback");
});

test("pausing automatic deploys holds a new commit back until resumed", {timeout: 120_000}, async () => {
  const page = await open("#/");
  const card = page.locator('[data-env="site/staging"]');
  await card.locator('[data-action="pause"]').click();
  await page.locator("#confirm-ok").click();
  await page.fill("#token-input", stack.token);
  await page.locator("#token-ok").click();
  await page.locator(".toast", {hasText: "paused"}).waitFor();
  await card.locator('[data-field="paused"] .badge', {hasText: "paused"}).waitFor();
  const apps = (await stack.api("/v1/apps")).body.apps;
  assert.equal(apps[0].environments[0].paused, true);
  const held = stack.commit("Held back", {"public/index.html": "<h1>Hello held</h1>\n", "fail": null});
  // Four poll intervals: the commit is seen (the page says so) but gets no run.
  await card.locator('[data-field="paused"]', {hasText: "new commits waiting"}).waitFor({timeout: 15_000});
  await new Promise(r => setTimeout(r, 2000));
  const runs = (await stack.api("/v1/runs?app=site")).body.runs;
  assert.ok(!runs.some(r => r.commit === held), "no run while paused");
  await card.locator('[data-action="resume"]').click();
  await page.locator("#confirm-ok").click();  // the token is kept: not asked again
  await page.locator(".toast", {hasText: "resumed; run #"}).waitFor();
  const run = await stack.runOf(held);
  await waitFor(async () => (await stack.status()).live_release === held, 90_000, "the held commit live");
  assert.equal(run.trigger, "manual");
  await done(page, "overview-paused");
});

test("deploys page draws each deployment", {timeout: 30_000}, async () => {
  const data = (await stack.api("/v1/apps/site/releases")).body;
  const page = await open("#/deploys/site");
  await page.locator("[data-deployment]").first().waitFor();
  assert.equal(await page.locator("[data-deployment]").count(), Math.min(30, data.deployments.length));
  assert.ok(await page.locator("[data-deployment] svg.chart").count() >= 1);
  await done(page, "deploys");
});

test("canary deployments draw their steps and statistics, or what there is", {timeout: 30_000}, async () => {
  // The deploy API's answer with canaries of three shapes (intercepted: a real canary
  // needs traffic and minutes): per-step analysis with quantiles and p-values, the older
  // counts-only record, and none.
  const real = (await stack.api("/v1/apps/site/releases")).body;
  const t = Date.now() - 60_000;
  const analysis = {score: 92, decision: "pass", reason: "latency within 20%",
    quantiles: ["p50", "p90", "p99"], canary_latency_ms: [12.5, 30, 81], baseline_latency_ms: [11, 28, 70],
    metrics: [{name: "latency", verdict: "pass", canary: 12.5, baseline: 11, p_value: 0.2134, detail: ""},
              {name: "5xx", verdict: "pass", canary: 0.001, baseline: 0, p_value: 0.31, detail: ""}]};
  const deployments = [
    {id: 901, environment: "staging", commit: "c".repeat(40), kind: "deploy", status: "succeeded", error: "",
     previous_commit: "b".repeat(40), started_at_ms: t, finished_at_ms: t + 9000, duration_ms: 8000,
     switched_after_ms: 500, canary: {phase: "promoted", weight: 25, duration_ms: 6000, requests: 420,
       errors_5xx: 0, error_rate: 0, main_requests: 1300, main_errors_5xx: 1, max_error_rate: 0.01, verdict: "passed",
       steps: [{weight: 5, duration_ms: 3000, started_at_ms: t, ended_at_ms: t + 3000, extensions: 0, decision: "pass", analysis},
               {weight: 25, duration_ms: 3000, started_at_ms: t + 3000, ended_at_ms: t + 6500, extensions: 1, decision: "pass", analysis}]}},
    {id: 902, environment: "staging", commit: "d".repeat(40), kind: "deploy", status: "failed", error: "canary: error rate 9% over 1%",
     previous_commit: "c".repeat(40), started_at_ms: t, finished_at_ms: t + 4000, duration_ms: 4000, switched_after_ms: 0,
     canary: {phase: "failed", weight: 10, requests: 200, errors_5xx: 18, error_rate: 0.09, main_requests: 900, main_errors_5xx: 0}},
    {id: 903, environment: "staging", commit: "e".repeat(40), kind: "deploy", status: "succeeded", error: "",
     started_at_ms: t, finished_at_ms: t + 1000, duration_ms: 800, switched_after_ms: 100, canary: null},
  ];
  const page = await browser.newPage();
  page.errors = [];
  page.on("console", m => { if (m.type() === "error") page.errors.push(m.text()); });
  page.on("pageerror", e => page.errors.push(e.message));
  await page.route("**/v1/apps/site/releases", route => route.fulfill({
    status: 200, contentType: "application/json", body: JSON.stringify({...real, deployments})}));
  await page.goto(stack.base + "/#/deploys/site");
  const stepped = page.locator('[data-deployment="901"]');
  await stepped.locator(".canary").waitFor();
  assert.match(await stepped.textContent(), /latency within 20%/);
  assert.match(await stepped.textContent(), /0\.213/);  // a p-value
  assert.equal(await stepped.locator('svg[aria-label^="step"]').count(), 2, "quantiles drawn per step");
  assert.match(await stepped.textContent(), /\+1 extension/);
  const old = page.locator('[data-deployment="902"]');
  assert.match(await old.textContent(), /9\.00% canary, 0\.00% main/);
  assert.equal(await page.locator('[data-deployment="903"] .canary').count(), 0);
  await done(page, "deploys-canary");
});

test("logs page shows the app's stored lines", {timeout: 30_000}, async () => {
  const page = await open("#/logs");
  await page.locator("pre.log").waitFor();
  await page.locator("#logs-app").waitFor();
  await done(page, "logs");
});

test("traffic page draws the requests sent through the proxy", {timeout: 60_000}, async () => {
  // The stack's daemon samples every 500 ms (GRAVITY_TRAFFIC_RESOLUTION in stack.mjs).
  const data = await waitFor(async () => {
    for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${stack.proxyPort}/`)).text();
    const r = await stack.api("/v1/traffic?app=site&env=staging");
    const main = (r.body.pools || []).find(p => p.pool === "main");
    return main && main.points.some(p => p.requests_per_s > 0) ? r.body : null;
  }, 20_000, "a traffic point with requests");
  assert.equal(data.resolution_ms, 500);
  const page = await open("#/traffic?app=site");
  const chart = page.locator('[data-env="staging"] svg[data-metric="requests"]');
  await chart.waitFor();
  assert.ok(Number(await chart.getAttribute("data-max")) > 0, "a non-zero requests/s is drawn");
  assert.ok(await chart.locator("polyline.line-main, circle.dot-main").count() > 0, "the main pool's line");
  await page.locator('[data-env="staging"] svg[data-metric="latency"]').waitFor();
  await page.locator('[data-env="staging"] svg[data-metric="errors"]').waitFor();
  assert.equal(await page.locator("nav a[aria-current=page]").textContent(), "Traffic");
  await done(page, "traffic");
  // Readable on a phone: no sideways scrolling.
  const phone = await open("#/traffic?app=site");
  await phone.setViewportSize({width: 390, height: 844});
  await phone.locator('svg[data-metric="requests"]').waitFor();
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (page is ${width}px wide)`);
  await done(phone, "traffic-phone");
  // Unknown names are refused by name.
  const bad = await stack.api("/v1/traffic?app=site&env=qa");
  assert.equal(bad.status, 404);
  assert.match(bad.body.error, /no environment 'qa'/);
});

test("unknown pages and files", {timeout: 30_000}, async () => {
  const page = await open("#/no-such-page");
  await page.locator("h1", {hasText: "Not found"}).waitFor();
  await done(page);
  const r = await fetch(stack.base + "/assets/nope.js");
  assert.equal(r.status, 404);
  const index = await fetch(stack.base + "/");
  assert.match(index.headers.get("content-security-policy"), /default-src 'self'/);
});
