# bench/lib.sh — the preamble the bench scripts share. Source it from bash, after
# `set -euo pipefail`:   . "$(dirname "$0")/../lib.sh"
#
# Sets ROOT (the repository) and BUILD_DIR (default $ROOT/build), and defines:
#   bench_build TARGET        build one target with scripts/build.sh (-j2, ccache)
#   need_bin FILE...          exit unless each is an executable (built) file
#   need_tools TOOL...        exit unless each is a command (scripts/setup.sh installs them)
#   bench_header              "# <time>  cpus=N  load average before: ..."
#   log TEXT / loadavg        a timestamped line on stderr / the 1, 5, 15 min load average
#   port_open / free_port / wait_port PORT [SECONDS=10]
#   tree_pids PID / rss_kib PID / cpu_ticks PID / pin PID CPUS   a process and its descendants
#   bench_tmpdir NAME         TMP=/tmp/gravity-bench-NAME.XXXXXX, removed at exit (KEEP_TMP=1 keeps it)
#   bench_raise_group NICE    raise this session's scheduling group weight (root; "off" skips),
#                             put back at exit
# At exit (bench_tmpdir installs the trap) every pid in PIDS gets SIGTERM and is waited for,
# TMP is removed, the group weight restored, then the script's own bench_on_exit runs if it
# defines one.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PIDS=()
TMP=""
AUTOGROUP_BEFORE=""

bench_build() { "$ROOT/scripts/build.sh" --target "$1" >/dev/null; }

need_bin() {
  local bin
  for bin; do
    [ -x "$bin" ] || { echo "missing $bin: build first (./scripts/build.sh)" >&2; exit 1; }
  done
}

need_tools() {
  local tool
  for tool; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run scripts/setup.sh)" >&2; exit 1; }
  done
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
bench_header() {
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average before: $(loadavg)"
}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on (bash cannot bind; the range is above the usual services and
# below the ephemeral range).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! port_open "$p" && ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
      echo "$p"; return 0
    fi
  done
  echo "no free port" >&2; return 1
}

wait_port() {  # port, seconds (default 10)
  local i
  for i in $(seq 1 $(( ${2:-10} * 20 ))); do
    port_open "$1" && return 0
    sleep 0.05
  done
  return 1
}

# Resident memory (KiB) and CPU ticks of a process and all its descendants.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q > 1) { if (q == root) { print p; break } q = parent[q] } } }'
}
rss_kib() {
  local sum=0 p r
  for p in $(tree_pids "$1"); do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    sum=$((sum + ${r:-0}))
  done
  echo "$sum"
}
cpu_ticks() {
  local sum=0 p t
  for p in $(tree_pids "$1"); do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
pin() { local p; for p in $(tree_pids "$1"); do taskset -p -c "$2" "$p" >/dev/null 2>&1 || true; done; }

bench_cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  if [ -n "$TMP" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  if [ -n "$AUTOGROUP_BEFORE" ]; then echo "$AUTOGROUP_BEFORE" >/proc/self/autogroup || true; fi
  if declare -F bench_on_exit >/dev/null; then bench_on_exit; fi
}

bench_tmpdir() {
  TMP=$(mktemp -d "/tmp/gravity-bench-$1.XXXXXX")
  trap bench_cleanup EXIT
}

bench_raise_group() {
  if [ "$(id -u)" = 0 ] && [ -w /proc/self/autogroup ] && [ "$1" != off ]; then
    AUTOGROUP_BEFORE=$(sed -n 's/.* nice //p' /proc/self/autogroup)
    echo "$1" >/proc/self/autogroup || AUTOGROUP_BEFORE=""
  fi
}
