#!/usr/bin/env bash
# CTest entry of the dashboard browser test:
#   run_dashboard_test.sh <dashboard_server binary> <work dir>
# Installs playwright-core (npm ci, pinned by package-lock.json) into the
# work dir and runs dashboard.mjs against Debian's chromium. Without node,
# npm or chromium the test is skipped (exit 77) with the reason, except in CI
# (CI=true), where that is a failure.
set -euo pipefail
server=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)

unavailable() {
  if [ "${CI:-}" = "true" ]; then
    echo "dashboard test: FAILED (CI=true): $1" >&2
    exit 1
  fi
  echo "dashboard test: SKIPPED: $1"
  exit 77
}

command -v node >/dev/null 2>&1 || unavailable "node not found (apt-get install nodejs)"
command -v npm >/dev/null 2>&1 || unavailable "npm not found (apt-get install npm)"
chromium=${POPQUEUE_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || unavailable "$chromium not found (scripts/install-deps installs chromium)"

mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/dashboard.mjs" "$work/"
cd "$work"
# npm ci only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.popqueue-installed-lock 2>/dev/null; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    unavailable "npm ci failed (no access to the npm registry?)"
  fi
  cp package-lock.json node_modules/.popqueue-installed-lock
fi
POPQUEUE_UI_DIR=$(cd "$here/../../ui" && pwd) exec node dashboard.mjs "$server" "$chromium" "$work"
