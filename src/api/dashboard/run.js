// One run: its stages as a timeline, its test files per worker over time, its output
// streamed live (GET /v1/runs/ID/stream) and the failing tests' output opened.
import {stream} from "./api.js";
import {el, short, age, duration, time, badge, kv} from "./dom.js";
import {timeline} from "./charts.js";

const MAX_LINES = 20000;

function stageRows(run) {
  const stages = run.stages || [];
  const t0 = Math.min(...stages.map(s => s.started_ms).filter(Boolean), run.started_ms || Infinity);
  const now = Date.now();
  return stages.map(s => {
    const end = s.finished_ms || (s.status === "running" ? now : s.started_ms);
    return {label: s.name, bars: [{start: s.started_ms - t0, end: end - t0, cls: s.status,
      title: `${s.name}: ${s.status}, ${duration(end - s.started_ms)}`,
      text: duration(end - s.started_ms)}]};
  });
}

function workerRows(run) {
  const tests = run.tests || [];
  const workers = [...new Set(tests.map(t => t.worker))].sort((a, b) => a - b);
  const known = tests.filter(t => t.started_ms);
  const t0 = known.length ? Math.min(...known.map(t => t.started_ms)) : 0;
  return workers.map(w => {
    // Files without a start time (runs from before it was kept) are laid end to end.
    let cursor = 0;
    const bars = tests.filter(t => t.worker === w).map(t => {
      const start = t.started_ms ? t.started_ms - t0 : cursor;
      cursor = start + t.duration_ms;
      return {start, end: start + t.duration_ms, cls: t.passed ? "passed" : "failed",
              title: `${t.file}: ${t.passed ? "passed" : t.result}, ${duration(t.duration_ms)}`,
              text: t.file.split("/").pop()};
    });
    return {label: "worker " + w, bars};
  });
}

export function runPage(params) {
  const id = params.id;
  const head = el("div", {});
  const stagesBox = el("div", {});
  const testsBox = el("div", {});
  const failBox = el("div", {});
  const state = el("span", {class: "muted", id: "stream-state"});
  const log = el("pre", {class: "log", id: "run-log", tabindex: "0", "aria-label": "run output"});
  const lines = [];  // {stage, text}
  let lastRun = null;
  let follow = true;
  log.addEventListener("scroll", () => {
    follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  });

  function renderRun(run) {
    lastRun = run;
    head.replaceChildren(
      el("h1", {}, `Run #${run.id} `, badge(run.status)),
      kv([
        ["app", run.app],
        ["commit", [el("code", {}, short(run.commit)), " ", run.subject || ""]],
        ["author", run.author],
        ["branch", run.branch || run.ref],
        ["trigger", run.trigger],
        ["environments", (run.environments || []).join(", ")],
        ["stage", run.stage],
        ["created", `${time(run.created_ms)} (${age(run.created_ms)})`],
        ["took", run.duration_ms ? duration(run.duration_ms) : ""],
      ]),
      run.error ? el("pre", {class: "err", id: "run-error"}, run.error) : null);
    stagesBox.replaceChildren(el("h2", {}, "Stages"),
      (run.stages || []).length ? timeline(stageRows(run), {label: "stages of run " + run.id})
                                : el("p", {class: "muted"}, "Not started."));
    const tests = run.tests || [];
    testsBox.replaceChildren(...(tests.length ? [
      el("h2", {}, `Tests: ${tests.filter(t => t.passed).length} of ${tests.length} files passed`),
      timeline(workerRows(run), {label: "test files per worker"}),
      el("p", {class: "legend"}, "Each row is a worker; each bar a test file (green passed, red failed).")] : []));
    renderFailures();
  }

  function renderFailures() {
    const failed = ((lastRun && lastRun.tests) || []).filter(t => !t.passed);
    failBox.replaceChildren(...(failed.length ? [el("h2", {}, "Failing tests"),
      ...failed.map(t => {
        const prefix = "[" + t.file + "] ";
        const out = lines.filter(l => l.stage === "test" && l.text.startsWith(prefix))
                         .map(l => l.text.slice(prefix.length)).join("\n");
        return el("details", {class: "test failed", open: true, "data-file": t.file},
          el("summary", {}, el("span", {class: "bad"}, t.file), " — ", t.result, ", ", duration(t.duration_ms)),
          el("pre", {class: "log"}, out || "(no output)"));
      })] : []));
  }

  function addLine(l) {
    lines.push(l);
    if (lines.length > MAX_LINES) lines.shift();
    log.append(el("span", {class: "stage"}, l.stage.padEnd(6) + " "), l.text + "\n");
    while (log.childNodes.length > 3 * MAX_LINES) log.firstChild.remove();
    if (follow) log.scrollTop = log.scrollHeight;
  }

  const stop = stream(`/v1/runs/${encodeURIComponent(id)}/stream`, e => {
    if (e.event === "line") addLine(JSON.parse(e.data));
    else if (e.event === "run") renderRun(JSON.parse(e.data));
    else if (e.event === "end") {
      state.textContent = "finished";
      renderFailures();
    }
  }, (s, msg) => {
    if (s === "open") state.textContent = "live";
    else if (s === "reconnecting") state.textContent = "reconnecting…";
    else if (s === "error") {
      state.textContent = msg;
      head.replaceChildren(el("h1", {}, `Run #${id}`), el("p", {class: "bad"}, msg));
    }
  });
  // While the run is going, the stage bars grow with time.
  const tick = setInterval(() => { if (lastRun && !lastRun.done) renderRun(lastRun); }, 1000);

  const nodes = [el("p", {}, el("a", {href: "#/runs"}, "← runs")), head, stagesBox, testsBox, failBox,
    el("h2", {}, "Output ", state), log];
  return {nodes, dispose: () => { stop(); clearInterval(tick); }};
}
