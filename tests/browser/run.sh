#!/bin/sh
# The dashboard's browser tests (docs/dashboard.md): installs playwright-core from
# package-lock.json (npm ci; no browser is downloaded: Debian's /usr/bin/chromium is used)
# and runs them with node's own test runner against build/gravity.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 --test-reporter=spec dashboard.test.mjs
