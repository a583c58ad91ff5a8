#!/usr/bin/env bash
# Runs tests/grpc/remote_worker.py (a remote worker in Python) against
# grpc_test_server: starts the server on a free port, runs the client, stops
# the server.
#
#   run_remote_worker_test.sh <grpc_test_server> <remote_worker.py> <proto dir>
#
# Exit 77 (CTest: skipped) when no Python with grpcio and grpc_tools is found,
# except under CI=true, where that is a failure.
set -euo pipefail
server_bin=$1 client=$2 proto_dir=$3

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

token=remote-worker-token-$$
retries=2
work=$(mktemp -d)
fifo=$work/stdin
mkfifo "$fifo"
"$server_bin" --retries "$retries" --token "$token" <"$fifo" >"$work/port" 2>"$work/server.log" &
server_pid=$!
exec 3>"$fifo"  # the server runs until this closes
cleanup() {
  exec 3>&- || true  # EOF on the server's stdin: it stops
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "server still running 5s after stdin closed; sending SIGTERM" >&2
    kill -TERM "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=
for _ in $(seq 200); do
  port=$(head -n1 "$work/port" 2>/dev/null || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FAIL: server exited" >&2; exit 1; }
  sleep 0.05
done
if [[ -z $port ]]; then
  cat "$work/server.log" >&2
  echo "FAIL: the server printed no port" >&2
  exit 1
fi

set +e
"$python" "$client" --address "127.0.0.1:$port" --token "$token" --retries "$retries" \
  --proto-dir "$proto_dir"
rc=$?
set -e
if ((rc != 0)); then
  echo "--- server log ---" >&2
  cat "$work/server.log" >&2
fi
exit $rc
