#!/usr/bin/env bash
# bench/proxy/https.sh — `gravity proxy` vs nginx vs HAProxy terminating TLS, side by side
# in one run, on loopback: the same ECDSA P-256 certificate, the same backend (a private
# nginx serving BODY_BYTES from a file over HTTP/1.1), the same load generators, 1 proxy
# worker each pinned to CPU 0 while the load generator and the backend share CPU 1.
#
# Rows, for each proxy:
#   keep-alive   wrk, CONNECTIONS keep-alive HTTPS connections for DURATION s: req/s, p99,
#                and the proxy's CPU time per request (µs; the primary figure on a shared
#                2-core machine: it does not depend on how busy the load generator is)
#   handshakes   wrk with "Connection: close": every request a new connection and a full
#                TLS 1.3 handshake (ECDHE X25519 + ECDSA P-256 signature): handshakes/s and
#                proxy CPU µs per handshake
#   h2           h2load, H2_CLIENTS connections x H2_STREAMS concurrent streams (only when
#                the proxy agrees on h2 via ALPN; "-" otherwise)
# REPEAT rounds, proxies in rotated order; the table shows each figure's median.
#
# Environment: BUILD_DIR (./build), DURATION (8), CONNECTIONS (64), BODY_BYTES (1434),
# REPEAT (3), PROXIES ("gravity nginx haproxy"), H2_CLIENTS (4), H2_STREAMS (16),
# KEEP_TMP=1 (keep configs and logs).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
GRAVITY=${GRAVITY:-$BUILD_DIR/gravity}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-64}
BODY_BYTES=${BODY_BYTES:-1434}
REPEAT=${REPEAT:-3}
PROXIES=${PROXIES:-"gravity nginx haproxy"}
H2_CLIENTS=${H2_CLIENTS:-4}
H2_STREAMS=${H2_STREAMS:-16}

need_tools "$NGINX" "$HAPROXY" wrk openssl taskset
H2LOAD=$(command -v h2load || true)
ulimit -n 65536 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
bench_tmpdir https
chmod 755 "$TMP"
bench_raise_group -20
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

# ---- certificate and backend ----------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" -days 2 -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" \
  2>/dev/null
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/combined.pem"
mkdir -p "$TMP/backend"
(yes "gravity https bench body" || true) | head -c "$((BODY_BYTES - 1))" >"$TMP/backend/body"
echo >>"$TMP/backend/body"
chmod 755 "$TMP/backend" && chmod 644 "$TMP/backend/body"
BACKEND_PORT=$(free_port)
cat >"$TMP/backend/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/backend/nginx.pid;
error_log $TMP/backend/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$BACKEND_PORT backlog=4096;
           location / { default_type text/plain; root $TMP/backend; try_files /body =404; } }
}
EOF
taskset -c 1 "$NGINX" -p "$TMP/backend" -c "$TMP/backend/nginx.conf" -g 'daemon off;' \
  >"$TMP/backend/out.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
wait_port "$BACKEND_PORT" || { cat "$TMP/backend/"*.log >&2; exit 1; }
pin "$BACKEND_PID" 1

# ---- the proxies -----------------------------------------------------------------------------
start_proxy() {  # name -> PROXY_PID, PROXY_PORT
  local name=$1 dir="$TMP/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  PROXY_PORT=$(free_port)
  case "$name" in
    gravity)
      local plain; plain=$(free_port)
      taskset -c 0 "$GRAVITY" proxy run --listen "127.0.0.1:$plain" --https-listen "127.0.0.1:$PROXY_PORT" \
        --state-dir "$dir" --workers 1 --log-level warn >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      wait_port "$PROXY_PORT" || { cat "$dir/out.log" >&2; return 1; }
      "$GRAVITY" proxy cert put bench.test --cert "$TMP/cert.pem" --key "$TMP/key.pem" --default \
        --state-dir "$dir" >/dev/null
      "$GRAVITY" proxy deploy bench --target "127.0.0.1:$BACKEND_PORT" --state-dir "$dir" \
        --health-path /body >/dev/null 2>&1 || "$GRAVITY" proxy deploy bench \
        --target "127.0.0.1:$BACKEND_PORT" --state-dir "$dir" >/dev/null
      ;;
    nginx)
      cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  keepalive_requests 10000000;
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$PROXY_PORT ssl http2 backlog=4096;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://backend; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_set_header Host \$host; }
  }
}
EOF
      taskset -c 0 "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$PROXY_PORT ssl crt $TMP/combined.pem alpn h2,http/1.1
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND_PORT
EOF
      taskset -c 0 "$HAPROXY" -f "$dir/haproxy.cfg" -db >"$dir/out.log" 2>&1 &
      PROXY_PID=$!
      ;;
  esac
  PIDS+=("$PROXY_PID")
  wait_port "$PROXY_PORT" || { cat "$dir/out.log" >&2; return 1; }
  pin "$PROXY_PID" 0
}
stop_proxy() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Runs `wrk ARGS` against the proxy and prints "req/s p99_ms cpu_us_per_req".
measure_wrk() {
  local pid=$1; shift
  local t0 t1 out reqs rps p99
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk --latency "$@" 2>&1)
  t1=$(cpu_ticks "$pid")
  reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
                           else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
                           print v }')
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "$out" | grep "Non-2xx\|Socket errors" >&2; fi
  awk -v r="${reqs:-0}" -v rps="${rps:-0}" -v p="${p99:-0}" -v d=$((t1 - t0)) -v hz="$CLK_TCK" \
    'BEGIN { printf "%.0f %.2f %.2f\n", rps, p, (r > 0 ? d * 1e6 / hz / r : 0) }'
}

# h2load -> "req/s cpu_us_per_req" or "- -" when the proxy does not speak h2.
measure_h2() {
  local pid=$1 port=$2 t0 t1 out reqs rps
  [ -n "$H2LOAD" ] || { echo "- -"; return; }
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 "$H2LOAD" -D "$DURATION" -c "$H2_CLIENTS" -m "$H2_STREAMS" \
        "https://127.0.0.1:$port/body" 2>&1 || true)
  t1=$(cpu_ticks "$pid")
  if ! echo "$out" | grep -q "Application protocol: h2"; then echo "- -"; return; fi
  reqs=$(echo "$out" | awk '/^requests:/ { print $8 }')  # succeeded
  rps=$(echo "$out" | awk '/^finished in/ { gsub(/,/, ""); print $4 }')
  awk -v r="${reqs:-0}" -v rps="${rps:-0}" -v d=$((t1 - t0)) -v hz="$CLK_TCK" \
    'BEGIN { printf "%.0f %.2f\n", rps, (r > 0 ? d * 1e6 / hz / r : 0) }'
}

declare -A RES
order=($PROXIES)
for round in $(seq 1 "$REPEAT"); do
  for i in "${!order[@]}"; do
    name=${order[$(( (i + round - 1) % ${#order[@]} ))]}
    start_proxy "$name" || { log "$name: could not start"; continue; }
    port=$PROXY_PORT
    url="https://127.0.0.1:$port/body"
    taskset -c 1 wrk -t1 -c8 -d1s "$url" >/dev/null 2>&1 || true  # warm-up
    read -r rps p99 cpu < <(measure_wrk "$PROXY_PID" -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
    RES[$name,ka_rps]+="$rps "; RES[$name,ka_p99]+="$p99 "; RES[$name,ka_cpu]+="$cpu "
    read -r hs _ hcpu < <(measure_wrk "$PROXY_PID" -t1 -c16 -d"${DURATION}s" -H "Connection: close" "$url")
    RES[$name,hs_rps]+="$hs "; RES[$name,hs_cpu]+="$hcpu "
    read -r h2 h2cpu < <(measure_h2 "$PROXY_PID" "$port")
    RES[$name,h2_rps]+="$h2 "; RES[$name,h2_cpu]+="$h2cpu "
    log "round $round $name: keep-alive $rps req/s p99 ${p99}ms ${cpu}us/req; handshakes $hs/s ${hcpu}us; h2 $h2 req/s ${h2cpu}us"
    stop_proxy "$PROXY_PID"
  done
done

m() { echo "${RES[$1,$2]:-}" | tr ' ' '\n' | grep -v '^$' | grep -v '^-$' | median; }
echo
echo "HTTPS, 1 proxy worker on CPU 0 (load + backend on CPU 1), ECDSA P-256, TLS 1.3,"
echo "body ${BODY_BYTES} B, backend nginx over HTTP/1.1 keep-alive; median of $REPEAT rounds"
printf "%-9s | %12s %9s %11s | %13s %11s | %10s %11s\n" proxy "keep-alive/s" "p99 ms" "CPU us/req" \
  "handshakes/s" "CPU us/hs" "h2 req/s" "CPU us/req"
for name in $PROXIES; do
  printf "%-9s | %12s %9s %11s | %13s %11s | %10s %11s\n" "$name" "$(m "$name" ka_rps)" \
    "$(m "$name" ka_p99)" "$(m "$name" ka_cpu)" "$(m "$name" hs_rps)" "$(m "$name" hs_cpu)" \
    "$(m "$name" h2_rps)" "$(m "$name" h2_cpu)"
done
echo "workload: wrk -t1 -c$CONNECTIONS (keep-alive), wrk -t1 -c16 'Connection: close' (handshakes),"
echo "h2load -c$H2_CLIENTS -m$H2_STREAMS; $(nproc) cores; $(openssl version)"
