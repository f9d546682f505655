#!/bin/sh
# Installs everything Gravity needs to build, test and benchmark on Debian 12. Idempotent.
# clang-14 and libclang-rt-14-dev (libFuzzer, sanitizer runtimes) build the fuzzers.
# rsyslog receives logs.forward's syslog in checks (its own config, loopback ports).
# prometheus answers the canary's metric checks in tests (its own config and TSDB dir).
# The sandbox needs bubblewrap (bwrap), libseccomp and util-linux (setpriv).
# The dashboard's browser tests (tests/browser/) need chromium, node and npm.
set -eu
PKGS="build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libboost-dev libgit2-dev libnghttp2-dev nghttp2-client libsqlite3-dev sqlite3 libyaml-cpp-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libssl-dev libgtest-dev libgmock-dev
  libbenchmark-dev nginx-light haproxy wrk procps iproute2 python3
  systemd dpkg-dev file
  clang-14 libclang-rt-14-dev
  bubblewrap libseccomp-dev util-linux
  libcurl4-openssl-dev pebble prometheus
  rsyslog chromium"
# A node that brings its own npm (e.g. NodeSource's) conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# The Debian nginx/haproxy services are not wanted: benchmarks start their own copies.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
# Nor is Debian's prometheus service: tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
