#!/usr/bin/env bash
# bench/deploy/daemon_memory.sh — resident memory of `gravity daemon` supervising N instances
# (default 50), and of one instance's `gravity _instance` log wrapper. Makes a throw-away
# stack in a temp dir (a git repo whose app is gravity-testapp), runs `gravity up --detach`,
# reads VmRSS from /proc, then `gravity down`.
#   bench/deploy/daemon_memory.sh [INSTANCES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
N=${1:-50}
GRAVITY=$BUILD_DIR/gravity
TESTAPP=$BUILD_DIR/gravity-testapp
[ -x "$GRAVITY" ] && [ -x "$TESTAPP" ] || { echo "build first (./scripts/build.sh)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gravity-bench-mem-XXXXXX")
cleanup() { "$GRAVITY" down -f "$WORK/stack.yml" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$WORK/app"
cat > "$WORK/app/gravity.yml" <<YML
run:
  command: exec $TESTAPP --port \$PORT --body 'Automation for the people'
health:
  body_contains: Automation for the people
  interval: 200ms
  deploy_timeout: 120s
YML
git -C "$WORK/app" init -q -b main
git -C "$WORK/app" -c user.name=bench -c user.email=bench@localhost add -A
git -C "$WORK/app" -c user.name=bench -c user.email=bench@localhost commit -qm app
cat > "$WORK/stack.yml" <<YML
state_dir: state
proxy: { listen: 127.0.0.1:$(free_port) }
admin: { listen: 127.0.0.1:$(free_port) }
apps:
  mem:
    repo: $WORK/app
    environments:
      prod:
        branch: main
        instances: $N
YML
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
"$GRAVITY" up -f "$WORK/stack.yml" --detach >/dev/null
end=$(date +%s.%N)
daemon_pid=$(cut -d' ' -f1 "$WORK/state/daemon.pid")
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Proportional set size: shared pages (the gravity binary, libraries) divided among users.
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
wrappers=$(pgrep -f "_instance --owner $WORK/state" || true)
count=$(echo "$wrappers" | grep -c . || true)
one=$(echo "$wrappers" | head -1)
printf "instances running                 %d\n" "$count"
printf "first deploy of %d instances       %.1f s (gravity up --detach, pipeline included)\n" "$N" "$(echo "$end - $start" | bc)"
printf "daemon resident memory            %d KiB RSS, %d KiB PSS\n" "$(rss "$daemon_pid")" "$(pss "$daemon_pid")"
printf "one _instance log wrapper         %d KiB RSS, %d KiB PSS\n" "$(rss "$one")" "$(pss "$one")"
total=0
for p in $wrappers; do total=$((total + $(pss "$p"))); done
printf "all %d log wrappers               %d KiB PSS\n" "$count" "$total"
