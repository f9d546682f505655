#!/usr/bin/env python3
"""Commit-to-live for the sample app: from `git push` to the new page being served.

Brings up a private stack of examples/automation (staging, 2 instances), then N times:
commit a change to the page on staging, push, and poll the proxy until the new text is
served. Two ways of noticing the push:
  webhook  the push is announced at once by POST /hooks/automation (GitHub push format,
           X-Hub-Signature-256 over the body with the app's secret), as GitHub would;
           the app's poll_interval is an hour, so only the webhook can trigger it.
  polling  no webhook; the daemon polls the repository every second (poll_interval 1s).
Prints each run's seconds and the median per mode. Run after ./scripts/build.sh.
"""
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRAVITY = os.environ.get("GRAVITY_BIN", os.path.join(ROOT, "build", "gravity"))
RUNS = int(os.environ.get("RUNS", "5"))
SECRET = "commit-to-live-bench-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@gravity.localhost",
                    *args], cwd=cwd, check=True, capture_output=True)


def page(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode()
    except Exception:
        return ""


def webhook(admin_port, commit):
    body = json.dumps({"ref": "refs/heads/staging", "after": commit,
                       "repository": {"name": "automation"}}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/hooks/automation", data=body,
                                 method="POST",
                                 headers={"X-Hub-Signature-256": sig, "X-GitHub-Event": "push",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


def measure(mode):
    d = tempfile.mkdtemp(prefix=f"gravity-c2l-{mode}-")
    proxy, admin = free_port(), free_port()
    try:
        subprocess.run(["git", "init", "-q", "--bare", "-b", "staging", f"{d}/automation.git"],
                       check=True)
        shutil.copytree(os.path.join(ROOT, "examples", "automation"), f"{d}/work")
        git(f"{d}/work", "init", "-q", "-b", "staging")
        git(f"{d}/work", "add", "-A")
        git(f"{d}/work", "commit", "-qm", "sample")
        git(f"{d}/work", "remote", "add", "origin", f"{d}/automation.git")
        git(f"{d}/work", "push", "-q", "origin", "staging")
        with open(f"{d}/secret", "w") as f:
            f.write(SECRET)
        poll = "1h" if mode == "webhook" else "1s"
        hook = "    webhook_secret_file: secret\n" if mode == "webhook" else ""
        with open(f"{d}/stack.yml", "w") as f:
            f.write(f"state_dir: state\nproxy: {{ listen: 127.0.0.1:{proxy} }}\n"
                    f"admin: {{ listen: 127.0.0.1:{admin} }}\napps:\n  automation:\n"
                    f"    repo: ./automation.git\n    poll_interval: {poll}\n{hook}"
                    f"    environments:\n      staging:\n        branch: staging\n"
                    f"        instances: 2\n        drain_timeout: 1s\n")
        up = subprocess.run([GRAVITY, "up", "-f", f"{d}/stack.yml", "--detach"],
                            capture_output=True, text=True, timeout=300)
        if up.returncode != 0:
            sys.exit(f"gravity up failed:\n{up.stdout}{up.stderr}")
        index = open(f"{d}/work/public/index.html").read()
        times = []
        for i in range(RUNS):
            marker = f"build {mode}-{i}-{time.time_ns()}"
            with open(f"{d}/work/public/index.html", "w") as f:
                f.write(index.replace("</h1>", f"</h1><p>{marker}</p>"))
            git(f"{d}/work", "commit", "-qam", marker)
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=f"{d}/work",
                                    capture_output=True, text=True).stdout.strip()
            start = time.monotonic()
            git(f"{d}/work", "push", "-q", "origin", "staging")
            if mode == "webhook":
                webhook(admin, commit)
            while marker not in page(proxy):
                if time.monotonic() - start > 120:
                    sys.exit(f"{mode}: the change was not live after 120 s")
                time.sleep(0.01)
            times.append(time.monotonic() - start)
            print(f"  {mode:8} run {i + 1}: {times[-1]:.3f} s", flush=True)
        return times
    finally:
        subprocess.run([GRAVITY, "down", "-f", f"{d}/stack.yml"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def main():
    print(f"commit-to-live, sample app, {RUNS} runs per mode, loadavg "
          f"{os.getloadavg()[0]:.2f}")
    results = {mode: measure(mode) for mode in ("webhook", "polling")}
    print("\nmode      median_s  min_s  max_s")
    for mode, t in results.items():
        print(f"{mode:8}  {statistics.median(t):8.3f}  {min(t):5.3f}  {max(t):5.3f}")


if __name__ == "__main__":
    main()
