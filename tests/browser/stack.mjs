// A real stack for the browser tests: a sample app the tests write (a build that can be
// made slow, two test files, one of which can be made to fail), pushed to a bare git
// repository, and `gravity up --detach` on loopback ports in a temporary directory.
import {execFileSync, execFile} from "node:child_process";
import {mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync} from "node:fs";
import {tmpdir} from "node:os";
import {join, resolve} from "node:path";
import net from "node:net";

export const ROOT = resolve(import.meta.dirname, "../..");
const BUILD = process.env.GRAVITY_BUILD_DIR ? resolve(process.env.GRAVITY_BUILD_DIR) : join(ROOT, "build");
export const GRAVITY = join(BUILD, "gravity");

export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const {port} = s.address();
      s.close(() => ok(port));
    });
  });
}

const GRAVITY_YML = `build:
  command: sh build.sh
  timeout: 2m
test:
  command: sh {file}
  files: tests/*_test.sh
  workers: 2
  timeout: 2m
run:
  command: gravity static public --port $PORT
health:
  path: /
  status: 200
  body_contains: Hello
  interval: 250ms
  timeout: 1s
  healthy_threshold: 1
  unhealthy_threshold: 3
  deploy_timeout: 20s
`;

// With a file named "slow" the build prints a line a second for a while: its output can
// be watched arriving.
const BUILD_SH = `echo "build: start"
if [ -f slow ]; then
  for i in 1 2 3 4 5 6 7 8; do echo "build step $i"; sleep 1; done
fi
echo "build: done"
`;
const A_TEST = `grep -q Hello public/index.html && echo "a: the page says hello"\n`;
// With a file named "fail", this test fails and says why.
const B_TEST = `echo "b: checking the answer"
if [ -f fail ]; then echo "b: expected the answer 42, got 41"; exit 1; fi
echo "b: the answer is 42"
`;

export function git(cwd, ...args) {
  return execFileSync("git", args, {cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"]}).trim();
}

export class Stack {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), "gravity-browser-"));
    this.proxyPort = await freePort();
    this.adminPort = await freePort();
    this.base = `http://127.0.0.1:${this.adminPort}`;
    this.repo = join(this.dir, "site.git");
    this.work = join(this.dir, "work");
    git(this.dir, "init", "-q", "--bare", "-b", "staging", this.repo);
    mkdirSync(join(this.work, "public"), {recursive: true});
    mkdirSync(join(this.work, "tests"), {recursive: true});
    writeFileSync(join(this.work, "gravity.yml"), GRAVITY_YML);
    writeFileSync(join(this.work, "build.sh"), BUILD_SH);
    writeFileSync(join(this.work, "tests/a_test.sh"), A_TEST);
    writeFileSync(join(this.work, "tests/b_test.sh"), B_TEST);
    writeFileSync(join(this.work, "public/index.html"), "<h1>Hello v1</h1>\n");
    git(this.work, "init", "-q", "-b", "staging");
    git(this.work, "config", "user.name", "Browser Test");
    git(this.work, "config", "user.email", "browser@gravity.localhost");
    git(this.work, "add", "-A");
    git(this.work, "commit", "-qm", "First page");
    git(this.work, "remote", "add", "origin", this.repo);
    git(this.work, "push", "-q", "origin", "staging");
    this.stackFile = join(this.dir, "stack.yml");
    writeFileSync(this.stackFile, `state_dir: state
proxy: { listen: 127.0.0.1:${this.proxyPort} }
admin: { listen: 127.0.0.1:${this.adminPort} }
apps:
  site:
    repo: ./site.git
    poll_interval: 500ms
    environments:
      staging:
        branch: staging
        host: "*"
        instances: 2
        strategy: red_black
        drain_timeout: 1s
        keep_previous: 10m
`);
    await this.gravity(["up", "-f", this.stackFile, "--detach"], 180_000);
    this.token = readFileSync(join(this.dir, "state/token"), "utf8").trim();
  }

  gravity(args, timeout = 60_000) {
    // A fine traffic history, so the traffic page has points within a second.
    const env = {...process.env, PATH: `${BUILD}:${process.env.PATH}`, GRAVITY_TRAFFIC_RESOLUTION: "500ms"};
    return new Promise((ok, fail) => {
      execFile(GRAVITY, args, {cwd: this.dir, env, timeout, encoding: "utf8"}, (err, stdout, stderr) => {
        if (err) fail(new Error(`gravity ${args.join(" ")}: ${err.message}\n${stdout}\n${stderr}`));
        else ok(stdout);
      });
    });
  }

  // Commits a change (files: {path: content or null to delete}) and pushes it; the commit id.
  commit(message, files) {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) rmSync(join(this.work, path), {force: true});
      else writeFileSync(join(this.work, path), content);
    }
    git(this.work, "add", "-A");
    git(this.work, "commit", "-qm", message);
    git(this.work, "push", "-q", "origin", "staging");
    return git(this.work, "rev-parse", "HEAD");
  }

  async api(path, options = {}) {
    const r = await fetch(this.base + path, options);
    return {status: r.status, body: await r.json()};
  }

  async status() {
    const r = await this.api("/v1/status");
    return r.body.apps[0].environments[0];
  }

  // The run of `commit`, once there is one.
  async runOf(commit, timeoutMs = 30_000) {
    return waitFor(async () => {
      const r = await this.api("/v1/runs?app=site");
      return r.body.runs.find(x => x.commit === commit);
    }, timeoutMs, `a run of ${commit.slice(0, 7)}`);
  }

  async stop() {
    if (!this.dir) return;
    try {
      await this.gravity(["down", "-f", this.stackFile], 60_000);
    } finally {
      if (!process.env.GRAVITY_KEEP_BROWSER_STACK && existsSync(this.dir)) rmSync(this.dir, {recursive: true, force: true});
    }
  }
}

// Polls `probe` until it returns something truthy.
export async function waitFor(probe, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise(r => setTimeout(r, 200));
  }
}
