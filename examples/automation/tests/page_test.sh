#!/bin/sh
# The page is a complete HTML document with a title, and its stylesheet exists.
set -eu
page=public/index.html
for needle in "<!doctype html>" "<title>" "</html>"; do
  if ! grep -qi "$needle" "$page"; then
    echo "FAIL: $page lacks $needle" >&2
    exit 1
  fi
done
[ -f public/style.css ] || { echo "FAIL: public/style.css is missing" >&2; exit 1; }
echo "ok: $page is a complete document"
