#!/bin/sh
# The page must say what the site is about; the health check expects the same text.
set -eu
page=public/index.html
if ! grep -q "Automation for the people" "$page"; then
  echo "FAIL: $page does not say 'Automation for the people'" >&2
  exit 1
fi
echo "ok: $page says 'Automation for the people'"
