#!/bin/sh
# The main job: the sample app "automation" on its own stack, live on http://127.0.0.1:8080/.
# Sets up and builds Gravity, makes demo/automation.git (a git repository of
# examples/automation with a `staging` branch) and a working copy demo/work, then runs
# `gravity up` in the foreground. Ctrl-C stops the stack.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
./scripts/setup.sh
./scripts/build.sh --target gravity
DEMO=${GRAVITY_DEMO_DIR:-$ROOT/demo}
mkdir -p "$DEMO"
if [ ! -d "$DEMO/automation.git" ]; then
  git init -q --bare -b staging "$DEMO/automation.git"
  rm -rf "$DEMO/work"
  cp -r examples/automation "$DEMO/work"
  (
    cd "$DEMO/work"
    git init -q -b staging
    git config user.name "Gravity Demo"
    git config user.email "demo@gravity.localhost"
    git add -A
    git commit -qm "The sample app: Automation for the people"
    git remote add origin "$DEMO/automation.git"
    git push -q origin staging
  )
fi
[ -f "$DEMO/stack.yml" ] || cp examples/stack.yml "$DEMO/stack.yml"
export PATH="$ROOT/build:$PATH"
exec gravity up -f "$DEMO/stack.yml" "$@"
