#!/bin/sh
# gravity static vs nginx serving the same small file: 1 worker each, keep-alive, wrk.
# Each server is pinned to CPU 0 and wrk to CPU 1 (on a 2-core machine that is all of it).
# Usage: bench/static/run.sh [rounds=5] [connections=50] [file-bytes=1024] [slice=2s]
# Rounds alternate between the two servers so that other load on the machine hits both.
# Needs: a built ./build/gravity (or $GRAVITY_BIN), nginx, wrk. Prints req/s, p50, p99, ratios.
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
CONNS=${2:-50}
BYTES=${3:-1024}
SLICE=${4:-2s}
GRAVITY=${GRAVITY_BIN:-$PWD/build/gravity}
NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 2; }
[ -x "$GRAVITY" ] || { echo "build gravity first (./scripts/build.sh)" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx is not installed" >&2; exit 2; }

TMP=$(mktemp -d /tmp/gravity-static-bench.XXXXXX)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
KEEP=${KEEP:-}

mkdir -p "$TMP/site" "$TMP/nginx"
chmod 755 "$TMP" "$TMP/site"  # nginx workers run as an unprivileged user
head -c "$BYTES" /dev/zero | tr '\0' 'a' > "$TMP/site/index.html"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  i=0
  until curl -fs -o /dev/null "http://127.0.0.1:$1/index.html"; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "server on port $1 did not start" >&2; exit 1; }
    sleep 0.1
  done
}

PIN_SERVER="taskset -c 0"
PIN_LOAD="taskset -c 1"
command -v taskset >/dev/null || { PIN_SERVER=""; PIN_LOAD=""; }

# nginx: one worker, sendfile, open_file_cache (its fastest setup for one hot file),
# no access log, unlimited keep-alive requests.
NPORT=$(free_port)
cat > "$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 10000000;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { text/html html; }
  server {
    listen 127.0.0.1:$NPORT;
    root $TMP/site;
  }
}
CONF
$PIN_SERVER "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_MASTER=$!
PIDS="$PIDS $NGINX_MASTER"

GPORT=$(free_port)
$PIN_SERVER "$GRAVITY" static "$TMP/site" --port "$GPORT" >"$TMP/gravity.log" 2>&1 &
GRAVITY_PID=$!
PIDS="$PIDS $GRAVITY_PID"

wait_port "$NPORT"
wait_port "$GPORT"

# CPU time (utime+stime, clock ticks) of process $1.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# slice NAME PORT PID ROUND: one wrk run; appends "requests seconds p50_ms p99_ms non2xx
# cpu_ticks" to $TMP/NAME.rounds.
slice() {
  before=$(cpu_ticks "$3")
  $PIN_LOAD wrk -t1 -c"$CONNS" -d"$SLICE" --latency "http://127.0.0.1:$2/index.html" \
    >"$TMP/$1.$4.wrk"
  after=$(cpu_ticks "$3")
  awk -v ticks=$((after - before)) '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    /requests in/ { total = $1; secs = $4; sub(/s,?$/, "", secs) }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%s %s %s %s %s %s\n", total, secs, p50, p99, (bad == "" ? 0 : bad), ticks }
  ' "$TMP/$1.$4.wrk" >>"$TMP/$1.rounds"
}

# summary NAME -> "req/s p50 p99 non2xx cpu_us_per_request": req/s over all rounds, median
# of the rounds' p50 and p99, CPU time per request over all rounds.
summary() {
  sort -n -k3 "$TMP/$1.rounds" | awk '{ p50[NR] = $3 } END { print p50[int((NR + 1) / 2)] }' \
    >"$TMP/$1.p50"
  sort -n -k4 "$TMP/$1.rounds" | awk '{ p99[NR] = $4 } END { print p99[int((NR + 1) / 2)] }' \
    >"$TMP/$1.p99"
  awk -v hz="$(getconf CLK_TCK)" -v p50="$(cat "$TMP/$1.p50")" -v p99="$(cat "$TMP/$1.p99")" '
    { req += $1; secs += $2; bad += $5; ticks += $6 }
    END { printf "%.0f %s %s %d %.2f\n", req / secs, p50, p99, bad, ticks / hz * 1e6 / req }
  ' "$TMP/$1.rounds"
}

NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -1)
echo "file: ${BYTES} bytes; wrk -t1 -c$CONNS; $ROUNDS interleaved rounds of $SLICE per server;"
echo "keep-alive; 1 worker each; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up, then alternate so that whatever else the machine does hits both alike.
$PIN_LOAD wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$NPORT/index.html" >/dev/null
$PIN_LOAD wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$GPORT/index.html" >/dev/null
r=1
while [ $r -le "$ROUNDS" ]; do
  slice nginx "$NPORT" "$NGINX_WORKER" $r
  slice gravity "$GPORT" "$GRAVITY_PID" $r
  r=$((r + 1))
done
set -- $(summary nginx)
N_RPS=$1 N_P50=$2 N_P99=$3 N_BAD=$4 N_CPU=$5
set -- $(summary gravity)
G_RPS=$1 G_P50=$2 G_P99=$3 G_BAD=$4 G_CPU=$5
printf "%-16s %12s %10s %10s %8s %14s\n" server req/s p50_ms p99_ms non2xx cpu_us/req
printf "%-16s %12.0f %10.3f %10.3f %8s %14s\n" nginx "$N_RPS" "$N_P50" "$N_P99" "$N_BAD" "$N_CPU"
printf "%-16s %12.0f %10.3f %10.3f %8s %14s\n" "gravity static" "$G_RPS" "$G_P50" "$G_P99" \
  "$G_BAD" "$G_CPU"
awk -v g="$G_RPS" -v n="$N_RPS" -v gp="$G_P99" -v np="$N_P99" -v gc="$G_CPU" -v nc="$N_CPU" \
  'BEGIN { printf "ratio gravity/nginx: req/s %.2fx, p99 %.2fx, cpu per request %.2fx\n",
           g / n, gp / np, gc / nc }'
echo "(req/s depends on how busy the machine is; CPU time per request does not)"
