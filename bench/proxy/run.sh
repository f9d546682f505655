#!/usr/bin/env bash
# bench/proxy/run.sh — `gravity proxy` vs nginx vs HAProxy as HTTP/1.1 reverse proxies, side
# by side in one run, on loopback: same backend, same load generator (wrk), same cores.
#
# 1. Throughput and latency: for each setup in WORKERS_LIST (default "1 1cap 2") and each
#    proxy, wrk drives CONNECTIONS keep-alive connections for DURATION seconds (after a
#    WARMUP) through the proxy to one backend; prints req/s, p50, p99, errors, the proxy's
#    CPU use, and ratios against nginx and HAProxy. "1": 1 worker alone on CPU 0, wrk and
#    the backend on CPU 1. "1cap": the same, but the proxy may use only CAP_PCT (50) % of
#    CPU 0 (a CFS quota), so that the proxy, not wrk + backend on a 2-core machine, is the
#    bottleneck: the figure that compares the proxies' own speed. "2": 2 workers, and
#    proxy, wrk and backend share all CPUs.
# 2. Memory: each proxy (1 worker) holds IDLE_CONNS idle keep-alive client connections
#    (gravity-bench-idle); prints the growth of its resident memory per connection.
#
# Every server is a private instance started from a generated config in a temp dir (never
# the system service) and stopped at the end. See bench/README.md for what the figures mean.
#
# Environment: BUILD_DIR (default ./build), DURATION (10), WARMUP (2), CONNECTIONS (64),
# WORKERS_LIST ("1 1cap 2"), CAP_PCT (50), PROXIES ("gravity nginx haproxy"), REPEAT (3: rounds; each round runs
# every proxy once, in a rotated order, and the table shows the median of each figure),
# IDLE_CONNS (10000; 0 skips the memory part), GROUP_NICE (-20, see below),
# BACKEND (nginx | testapp), GRAVITY_PROXY_ARGS (extra flags for `gravity proxy run`),
# BODY_BYTES (response body size; default: a 23-byte line; the nginx backend serves a file),
# GRAVITY_B (a second gravity binary, measured as proxy "gravity_b": add it to PROXIES),
# KEEP_TMP=1 (keep configs and logs).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
GRAVITY=${GRAVITY:-$BUILD_DIR/gravity}
TESTAPP=${TESTAPP:-$BUILD_DIR/gravity-testapp}
IDLE=${IDLE:-$BUILD_DIR/gravity-bench-idle}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
WRK=${WRK:-$(command -v wrk || echo wrk)}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS_LIST=${WORKERS_LIST:-"1 1cap 2"}
CAP_PCT=${CAP_PCT:-50}
PROXIES=${PROXIES:-"gravity nginx haproxy"}
REPEAT=${REPEAT:-3}
IDLE_CONNS=${IDLE_CONNS:-10000}
BACKEND=${BACKEND:-nginx}
GRAVITY_PROXY_ARGS=${GRAVITY_PROXY_ARGS:-}
# Scheduling priority. The kernel groups tasks by session (sched_autogroup) and shares CPU
# time fairly between the groups first: a plain `nice` only ranks tasks inside the bench's
# own session. On a machine where other sessions compile or run tests, every process of
# the bench (proxy, backend and wrk alike) got a share that swung with their number — runs
# of the same proxy differed 4x from one minute to the next, and the proxy sat at 5-20%
# CPU waiting for a starved load generator. So the bench raises its session's group weight
# (GROUP_NICE, default -20; needs root; "off" leaves it) while it runs and puts it back at
# exit. Other sessions still get the CPU the bench leaves idle. Every proxy, the backend
# and wrk run in that one group: the conditions are the same for all proxies, and
# interleaved rounds plus medians absorb what remains.
NICE=${NICE:--10}
GROUP_NICE=${GROUP_NICE:--20}
[ "$(id -u)" = 0 ] || NICE=0
BODY="hello from the backend"  # 22 bytes + newline
BODY_BYTES=${BODY_BYTES:-}
GRAVITY_B=${GRAVITY_B:-}

need_tools "$NGINX" "$HAPROXY" "$WRK" taskset
need_bin "$IDLE"

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then PROXY_CPUS_1=0; LOAD_CPUS_1=1; else PROXY_CPUS_1=0; LOAD_CPUS_1=0; fi
ALL_CPUS="0-$((NCPU - 1))"
# Enough descriptors for 10,000 client connections plus upstream ones.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

bench_tmpdir proxy
OUT_DIR="$ROOT/bench/out"
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/proxy-$(date +%Y%m%d-%H%M%S).tsv"
CAP_GROUP=""
bench_on_exit() {
  if [ -n "$CAP_GROUP" ]; then rmdir "$CAP_GROUP" 2>/dev/null || true; fi
}
bench_raise_group "$GROUP_NICE"

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=()
  for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && kept+=("$p"); done
  PIDS=("${kept[@]:-}")
}

CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- backend
BACKEND_PORT=$(free_port)
start_backend() {
  mkdir -p "$TMP/backend"
  BACKEND_LOCATION="location / { default_type text/plain; return 200 \"$BODY\\n\"; }"
  if [ -n "$BODY_BYTES" ]; then
    # A body of BODY_BYTES bytes (the last one a newline), served from a file.
    (yes "gravity proxy bench body" || true) | head -c "$(( BODY_BYTES - 1 ))" >"$TMP/backend/body"
    echo >>"$TMP/backend/body"
    chmod 755 "$TMP" "$TMP/backend" && chmod 644 "$TMP/backend/body"  # nginx's worker reads it
    BODY=$(head -c "$(( BODY_BYTES - 1 ))" "$TMP/backend/body")
    BACKEND_LOCATION="location / { default_type text/plain; root $TMP/backend; try_files /body =404; }"
  fi
  if [ "$BACKEND" = testapp ]; then
    nice -n "$NICE" taskset -c "$LOAD_CPUS_1" "$TESTAPP" --port "$BACKEND_PORT" --name backend \
      --body "$BODY" >"$TMP/backend/out.log" 2>&1 &
    BACKEND_PID=$!
    BACKEND_DESC="gravity-testapp (1 thread)"
  else
    cat >"$TMP/backend/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $TMP/backend/nginx.pid;
error_log $TMP/backend/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $TMP/backend/body;
  proxy_temp_path $TMP/backend/proxy;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$BACKEND_PORT backlog=4096;
    $BACKEND_LOCATION
  }
}
EOF
    nice -n "$NICE" taskset -c "$LOAD_CPUS_1" "$NGINX" -p "$TMP/backend" -c "$TMP/backend/nginx.conf" \
      -g 'daemon off;' >"$TMP/backend/out.log" 2>&1 &
    BACKEND_PID=$!
    BACKEND_DESC="nginx 'return 200' (1 worker)"
  fi
  PIDS+=("$BACKEND_PID")
  wait_port "$BACKEND_PORT" 10 || { cat "$TMP/backend/"*.log >&2; exit 1; }
  # While the proxies use one core, the backend shares the other one with wrk.
  taskset -a -p -c "$LOAD_CPUS_1" "$BACKEND_PID" >/dev/null 2>&1 || true
  for p in $(tree_pids "$BACKEND_PID"); do taskset -p -c "$LOAD_CPUS_1" "$p" >/dev/null 2>&1 || true; done
}

# ---------------------------------------------------------------- CPU cap ("1cap")
# A cgroup (v1 cpu controller) with a CFS quota of CAP_PCT % of one CPU over a 10 ms period
# (a throttled stretch adds at most CAP_PCT % of 10 ms to a request's latency) and the
# highest weight (it replaces the session group for the processes in it).
make_cap_group() {
  [ -n "$CAP_GROUP" ] && return 0
  local root=/sys/fs/cgroup/cpu
  [ -w "$root/cgroup.procs" ] || return 1
  CAP_GROUP="$root/gravity-bench-proxy-$$"
  mkdir "$CAP_GROUP" 2>/dev/null || { CAP_GROUP=""; return 1; }
  echo 262144 >"$CAP_GROUP/cpu.shares" &&
    echo 10000 >"$CAP_GROUP/cpu.cfs_period_us" &&
    echo $(( CAP_PCT * 100 )) >"$CAP_GROUP/cpu.cfs_quota_us" || return 1
}

# ---------------------------------------------------------------- proxies
# start_proxy NAME WORKERS CPUS -> sets PROXY_PID, PROXY_PORT; returns non-zero (with
# PROXY_SKIP set to the reason) when the proxy cannot run.
start_proxy() {
  local name=$1 workers=$2 cpus=$3 dir="$TMP/$1-$2"
  rm -rf "$dir"; mkdir -p "$dir"
  LAUNCH=()
  if [ "${CAPPED:-0}" = 1 ]; then LAUNCH=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CAP_GROUP"); fi
  PROXY_PORT=$(free_port)
  PROXY_SKIP=""
  case "$name" in
    nginx)
      cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
worker_rlimit_nofile $NOFILE;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$PROXY_PORT backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$request_id;
    }
  }
}
EOF
      "${LAUNCH[@]}" nice -n "$NICE" taskset -c "$cpus" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' \
        >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $workers
  maxconn $(( IDLE_CONNS + 1000 ))
  ulimit-n $NOFILE
  # Idle client connections need no server socket: run even where the descriptor limit is
  # below HAProxy's worst case of two per connection.
  no strict-limits
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$PROXY_PORT
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt%pid
  unique-id-header X-Request-Id
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND_PORT
EOF
      "${LAUNCH[@]}" nice -n "$NICE" taskset -c "$cpus" "$HAPROXY" -f "$dir/haproxy.cfg" -db >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      ;;
    gravity|gravity_b)
      local bin=$GRAVITY
      [ "$name" = gravity_b ] && bin=$GRAVITY_B
      if [ -z "$bin" ] || [ ! -x "$bin" ]; then PROXY_SKIP="no binary for $name"; return 1; fi
      local help
      help=$("$bin" proxy run --help 2>&1 || true)
      local args=(proxy run --listen "127.0.0.1:$PROXY_PORT" --control "$dir/proxy.sock"
                  --state-dir "$dir/state")
      if grep -q -- "--workers" <<<"$help"; then
        args+=(--workers "$workers")
      elif [ "$workers" != 1 ]; then
        PROXY_SKIP="gravity proxy run has no --workers"; return 1
      fi
      # shellcheck disable=SC2206
      args+=($GRAVITY_PROXY_ARGS)
      "${LAUNCH[@]}" nice -n "$NICE" taskset -c "$cpus" "$bin" "${args[@]}" >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      ;;
  esac
  PIDS+=("$PROXY_PID")
  if ! wait_port "$PROXY_PORT" 15; then
    PROXY_SKIP="did not listen: $(tail -3 "$dir/out.log" "$dir"/error.log 2>/dev/null | tr '\n' ' ')"
    stop_pid "$PROXY_PID"; return 1
  fi
  if [ "$name" = gravity ] || [ "$name" = gravity_b ]; then
    if ! "$GRAVITY" proxy deploy bench --target "127.0.0.1:$BACKEND_PORT" \
        --control "$dir/proxy.sock" >"$dir/deploy.log" 2>&1; then
      PROXY_SKIP="deploy failed: $(tail -3 "$dir/deploy.log" | tr '\n' ' ')"
      stop_pid "$PROXY_PID"; return 1
    fi
  fi
  # The route must answer with the backend's body before measuring.
  local body
  body=$(curl -s --max-time 5 "http://127.0.0.1:$PROXY_PORT/" || true)
  if [ "$body" != "$BODY" ]; then
    PROXY_SKIP="does not proxy to the backend (got '${body:0:80}')"
    stop_pid "$PROXY_PID"; return 1
  fi
  return 0
}

# ---------------------------------------------------------------- wrk
to_ms() {  # "350.00us" / "1.20ms" / "2.00s" -> milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}

# run_wrk PORT THREADS CPUS SECONDS -> "rps p50 p99 errors"
run_wrk() {
  local out
  out=$(nice -n "$NICE" taskset -c "$3" "$WRK" -t"$2" -c"$CONNECTIONS" -d"$4"s --latency \
        "http://127.0.0.1:$1/" 2>&1)
  local rps p50 p99 errs non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  errs=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  echo "${rps:-0} ${p50:-nan} ${p99:-nan} $(( ${errs:-0} + ${non2xx:-0} ))"
}

# ---------------------------------------------------------------- throughput
echo "# gravity proxy vs nginx vs HAProxy — reverse proxy on loopback"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  cpus=$NCPU  $("$NGINX" -v 2>&1 | sed 's/.*: //')  $("$HAPROXY" -v | head -1 | awk '{print "haproxy/" $3}')  $("$WRK" --version 2>&1 | head -1 | awk '{print "wrk/" $2}')"
start_backend
echo "# backend: $BACKEND_DESC on CPU $LOAD_CPUS_1, body $(( ${#BODY} + 1 )) bytes"
echo "# load: wrk, $CONNECTIONS keep-alive connections, ${DURATION}s per run after ${WARMUP}s warm-up, REPEAT=$REPEAT"
echo "# CPUs: 1 -> 1 worker on CPU $PROXY_CPUS_1, wrk + backend on CPU $LOAD_CPUS_1;" \
     "1cap -> the same with the proxy held to $CAP_PCT% of CPU $PROXY_CPUS_1 (CFS quota);" \
     "2 -> 2 workers; proxy, wrk and backend share CPUs $ALL_CPUS"
echo "# every proxy adds X-Forwarded-For/-Proto/-Host and X-Request-Id; access logs off"
echo "# scheduling: nice $NICE inside the bench's session; session group nice $(sed -n 's/.* nice //p' /proc/self/autogroup 2>/dev/null || echo '?') (GROUP_NICE)"
printf 'load average now: %s\n' "$(loadavg)"

# Backend capacity when it shares its CPU with wrk, as the proxied runs do.
read -r b_rps b_p50 b_p99 b_err < <(run_wrk "$BACKEND_PORT" 1 "$LOAD_CPUS_1" "$DURATION")
printf 'backend direct (wrk + backend on CPU %s): %.0f req/s, p50 %s ms, p99 %s ms\n\n' \
  "$LOAD_CPUS_1" "$b_rps" "$b_p50" "$b_p99"

printf 'workers\tproxy\trun\treq_s\tp50_ms\tp99_ms\terrors\tproxy_cpu_pct\tloadavg\n' >"$RESULTS"
declare -A SKIP
read -r -a PROXY_ARR <<<"$PROXIES"
for setup in $WORKERS_LIST; do
  workers=${setup%cap}
  CAPPED=0
  if [ "$setup" != "$workers" ]; then
    CAPPED=1
    if ! make_cap_group; then
      log "skipping $setup: no writable cgroup v1 cpu controller (needs root)"; continue
    fi
  fi
  if [ "$workers" = 1 ]; then pcpus=$PROXY_CPUS_1; lcpus=$LOAD_CPUS_1; threads=1
  else pcpus=$ALL_CPUS; lcpus=$ALL_CPUS; threads=$workers; fi
  for run in $(seq 1 "$REPEAT"); do
    # Round r starts with proxy r (mod n): none always runs first, right after a restart of
    # the round or while the machine's load drifts the same way.
    n=${#PROXY_ARR[@]}
    for k in $(seq 0 $((n - 1))); do
      proxy=${PROXY_ARR[$(( (run - 1 + k) % n ))]}
      [ -n "${SKIP[$proxy-$setup]:-}" ] && continue
      log "$proxy, $setup, round $run (load $(loadavg))"
      if ! start_proxy "$proxy" "$workers" "$pcpus"; then
        SKIP[$proxy-$setup]=$PROXY_SKIP
        log "  skipped: $PROXY_SKIP"
        continue
      fi
      run_wrk "$PROXY_PORT" "$threads" "$lcpus" "$WARMUP" >/dev/null
      la=$(loadavg)
      t0=$(cpu_ticks "$PROXY_PID")
      read -r rps p50 p99 errs < <(run_wrk "$PROXY_PORT" "$threads" "$lcpus" "$DURATION")
      t1=$(cpu_ticks "$PROXY_PID")
      cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v d="$DURATION" \
            'BEGIN { printf "%.1f", (b - a) / hz / d * 100 }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$proxy" "$run" "$rps" "$p50" \
        "$p99" "$errs" "$cpu" "$la" >>"$RESULTS"
      log "  $(printf '%.0f req/s, p50 %s ms, p99 %s ms, proxy cpu %s%%' "$rps" "$p50" "$p99" "$cpu")"
      stop_pid "$PROXY_PID"
    done
  done
done
CAPPED=0

# Per worker count and proxy: the median of each figure over the rounds (req/s, p50, p99,
# cpu% and CPU us/req each on its own), the req/s range, the 1-minute load average range,
# and the ratios against nginx and HAProxy at the same worker count.
echo "== throughput and latency: median of $REPEAT round(s) per figure =="
awk -F'\t' '
  function median(key, col,    m, i, j, t, v) {
    m = n[key]
    for (i = 1; i <= m; i++) v[i] = val[key, i, col] + 0
    for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j] < v[j-1]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
    return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  function lo(key, col,    i, x) { x = val[key, 1, col] + 0; for (i = 2; i <= n[key]; i++) if (val[key, i, col] + 0 < x) x = val[key, i, col] + 0; return x }
  function hi(key, col,    i, x) { x = val[key, 1, col] + 0; for (i = 2; i <= n[key]; i++) if (val[key, i, col] + 0 > x) x = val[key, i, col] + 0; return x }
  NR > 1 {
    key = $1 SUBSEP $2; if (!(key in n)) { keys[++nk] = key; w[key] = $1; p[key] = $2 }
    i = ++n[key]
    val[key, i, "rps"] = $4; val[key, i, "p50"] = $5; val[key, i, "p99"] = $6
    val[key, i, "cpu"] = $8; err[key] += $7
    val[key, i, "us"] = ($4 > 0) ? $8 / 100 * 1e6 / $4 : 0
    split($9, la, " "); val[key, i, "la"] = la[1]
  }
  END {
    for (k = 1; k <= nk; k++) {
      key = keys[k]
      R[key] = median(key, "rps"); P99[key] = median(key, "p99")
    }
    printf "%-4s %-8s %8s %15s %7s %8s %5s %5s %6s %8s %8s %8s %8s  %s\n", "wk", "proxy", "req/s", \
      "(min-max)", "p50_ms", "p99_ms", "err", "cpu%", "us/req", "rps/ng", "p99/ng", "rps/ha", "p99/ha", "load 1m"
    for (k = 1; k <= nk; k++) {
      key = keys[k]; ng = w[key] SUBSEP "nginx"; ha = w[key] SUBSEP "haproxy"
      printf "%-4s %-8s %8.0f %15s %7.2f %8.2f %5d %5.1f %6.1f %8s %8s %8s %8s  %s\n", w[key], p[key], R[key], \
        sprintf("(%.0f-%.0f)", lo(key, "rps"), hi(key, "rps")), median(key, "p50"), P99[key], err[key], \
        median(key, "cpu"), median(key, "us"), \
        (ng in R && R[ng] > 0) ? sprintf("%.2fx", R[key] / R[ng]) : "-", \
        (ng in P99 && P99[ng] > 0) ? sprintf("%.2fx", P99[key] / P99[ng]) : "-", \
        (ha in R && R[ha] > 0) ? sprintf("%.2fx", R[key] / R[ha]) : "-", \
        (ha in P99 && P99[ha] > 0) ? sprintf("%.2fx", P99[key] / P99[ha]) : "-", \
        sprintf("%.2f-%.2f", lo(key, "la"), hi(key, "la"))
    }
  }' < <(head -1 "$RESULTS"; tail -n +2 "$RESULTS" | sort -t$'\t' -k1,1 -k2,2 -s)
echo "(rps/ng, p99/ng: against nginx; rps/ha, p99/ha: against HAProxy — req/s higher is"
echo " better, p99 lower is better; us/req = the proxy's CPU time per request)"
for key in "${!SKIP[@]}"; do echo "skipped $key: ${SKIP[$key]}"; done
echo "(raw runs: $RESULTS)"

# ---------------------------------------------------------------- memory
if [ "$IDLE_CONNS" -gt 0 ]; then
  echo
  echo "== resident memory holding $IDLE_CONNS idle keep-alive client connections (1 worker) =="
  printf '%-8s %12s %12s %10s %8s %8s\n' proxy rss_before rss_after KiB/conn held closed
  for proxy in $PROXIES; do
    if ! start_proxy "$proxy" 1 "$PROXY_CPUS_1"; then
      echo "$proxy: skipped: $PROXY_SKIP"; continue
    fi
    # Warm up so that buffers and upstream pools exist before the baseline.
    run_wrk "$PROXY_PORT" 1 "$LOAD_CPUS_1" 2 >/dev/null
    sleep 1
    before=$(rss_kib "$PROXY_PID")
    ready="$TMP/idle-$proxy.ready"
    rm -f "$ready"
    nice -n "$NICE" taskset -c "$LOAD_CPUS_1" "$IDLE" --port "$PROXY_PORT" --count "$IDLE_CONNS" \
      --ready-file "$ready" --hold-seconds 120 >"$TMP/idle-$proxy.log" 2>&1 &
    idle_pid=$!
    PIDS+=("$idle_pid")
    for _ in $(seq 1 1200); do [ -s "$ready" ] && break; sleep 0.1; done
    sleep 1  # let the proxy settle after the last request
    after=$(rss_kib "$PROXY_PID")
    held=$(awk '{print $2}' "$ready" 2>/dev/null || echo 0)
    stop_pid "$idle_pid"
    closed=$(awk '/closed by the server/ {print $NF}' "$TMP/idle-$proxy.log")
    per=$(awk -v a="$before" -v b="$after" -v n="${held:-0}" \
          'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
    printf '%-8s %9s KiB %9s KiB %10s %8s %8s\n' "$proxy" "$before" "$after" "$per" \
      "${held:-0}" "${closed:-?}"
    stop_pid "$PROXY_PID"
  done
  echo "(KiB/conn = (RSS with the connections held - RSS before) / connections held; RSS summed"
  echo " over the proxy's processes, e.g. nginx master + worker; the client's memory is not counted)"
fi
printf 'load average at the end: %s\n' "$(loadavg)"
