#!/usr/bin/env bash
# CTest entry of the deploy/ checks:
#   run_deploy_test.sh <popqueue binary> <work dir>
# Installs the validators (npm ci, pinned by package-lock.json) into the work
# dir and runs validate.mjs. Without node or npm, or without the npm
# registry, the test is skipped (exit 77) with the reason, except in CI
# (CI=true), where that is a failure. Docker itself is not needed here: the
# Dockerfile is linted; the image is built and run by run_image_test.sh (the
# opt-in `image` step of .ci/run, docs/deploy.md).
set -euo pipefail
popqueue=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

unavailable() {
  if [ "${CI:-}" = "true" ]; then
    echo "deploy test: FAILED (CI=true): $1" >&2
    exit 1
  fi
  echo "deploy test: SKIPPED: $1"
  exit 77
}

command -v node >/dev/null 2>&1 || unavailable "node not found (apt-get install nodejs)"
command -v npm >/dev/null 2>&1 || unavailable "npm not found (apt-get install npm)"

mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/validate.mjs" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.popqueue-installed-lock 2>/dev/null; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    unavailable "npm ci failed (no access to the npm registry?)"
  fi
  cp package-lock.json node_modules/.popqueue-installed-lock
fi
exec node validate.mjs "$root" "$popqueue"
