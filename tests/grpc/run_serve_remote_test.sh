#!/usr/bin/env bash
# Runs tests/grpc/serve_remote_workers.py (remote workers in Python) against
# `popqueue serve` alone on a temporary SQLite file: no `popqueue worker`
# anywhere, so the rescue of a dead worker's job is serve's own maintenance.
#
#   run_serve_remote_test.sh <popqueue> <serve_remote_workers.py> <proto dir> [sqlite|postgres]
#
# postgres: on the server of POPQUEUE_TEST_POSTGRES_URL (scripts/with-services),
# in a collection of its own; skipped (77) without it, a failure under CI=true.
#
# Exit 77 (CTest: skipped) when no Python with grpcio and grpc_tools is found,
# except under CI=true, where that is a failure.
set -euo pipefail
popqueue=$1 client=$2 proto_dir=$3 backend=${4:-sqlite}

python=
for candidate in ${POPQUEUE_PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [[ -z $python ]]; then
  reason="no python3 with the grpc and grpc_tools modules (Debian: apt-get install python3-grpcio python3-grpc-tools)"
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $reason" >&2
    exit 1
  fi
  echo "SKIP: $reason"
  exit 77
fi

work=$(mktemp -d)
case $backend in
  sqlite) db_url=sqlite://$work/q.db ;;
  postgres)
    db_url=${POPQUEUE_TEST_POSTGRES_URL:-}
    if [[ -z $db_url ]]; then
      rm -rf "$work"
      if [[ ${CI:-} == true ]]; then echo "FAIL: POPQUEUE_TEST_POSTGRES_URL is not set" >&2; exit 1; fi
      echo "SKIP: POPQUEUE_TEST_POSTGRES_URL is not set (scripts/with-services)"
      exit 77
    fi ;;
  *) echo "usage: run_serve_remote_test.sh <popqueue> <client> <proto dir> [sqlite|postgres]" >&2; exit 2 ;;
esac
# Every process of the test (serve, `popqueue workers`) in one collection.
export POPQUEUE_COLLECTION=remote$$
# Rescue every second; heartbeat interval 1 s, so the registry keeps a silent
# worker 3 x 1 s + 5 s = 8 s.
WORKER_ID=serve-alone POPQUEUE_RESCUE_INTERVAL=1s "$popqueue" serve --db-url "$db_url" --port 0 \
  --grpc-address 127.0.0.1:0 --host 127.0.0.1 --heartbeat-interval 1s \
  2>"$work/server.log" &
server_pid=$!
cleanup() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

http_port= grpc_port=
for _ in $(seq 200); do
  line=$(grep -m1 'gRPC on port' "$work/server.log" 2>/dev/null || true)
  if [[ $line =~ :([0-9]+)/\;\ gRPC\ on\ port\ ([0-9]+) ]]; then
    http_port=${BASH_REMATCH[1]} grpc_port=${BASH_REMATCH[2]}
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FAIL: serve exited" >&2; exit 1; }
  sleep 0.05
done
if [[ -z $grpc_port ]]; then
  cat "$work/server.log" >&2
  echo "FAIL: serve printed no ports" >&2
  exit 1
fi

set +e
"$python" "$client" --grpc "127.0.0.1:$grpc_port" --http "127.0.0.1:$http_port" \
  --popqueue "$popqueue" --db-url "$db_url" --proto-dir "$proto_dir"
rc=$?
set -e
if ! grep -q 'serve-alone took maintenance leadership' "$work/server.log"; then
  echo "FAIL: serve never took the maintenance leadership" >&2
  rc=1
fi
if ((rc != 0)); then
  echo "--- server log ---" >&2
  cat "$work/server.log" >&2
fi
exit $rc
