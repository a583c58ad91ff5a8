#!/usr/bin/env bash
# Slow, thin and reset connections between workers and the store, without a
# partition (issue 19): two chaos_worker processes (tests/chaos) reach the
# test's PostgreSQL or Redis only through Toxiproxy (scripts/lib/toxiproxy.sh),
# which injects, one after the other while they drain: 50 ms latency each way
# (jitter 10 ms), then a bandwidth of 64 KB/s towards the workers, then
# connections reset by the peer 300 ms into their life (mid-reply when a reply
# is under way), then nothing. chaos_ctl check then requires every job
# completed or dead exactly as its handler decided and none lost; runs beyond
# the plan are allowed only for jobs in flight when a connection failed (both
# workers count as faulted).
#
#   toxic_test.sh BUILD_DIR postgres|redis
#
# Uses the shared test server (POPQUEUE_TEST_POSTGRES_URL / _REDIS_URL): it
# fails under CI=true without it, or without Go to build Toxiproxy, and skips
# (exit 77) elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
backend=$2
source "$root/scripts/lib/toxiproxy.sh"

skip() {
  if [ "${CI:-}" = true ]; then echo "toxic_test: $1 (CI=true)" >&2; exit 1; fi
  echo "toxic_test: skipped: $1"
  exit 77
}
case "$backend" in
  postgres) url=${POPQUEUE_TEST_POSTGRES_URL:-} ;;
  redis) url=${POPQUEUE_TEST_REDIS_URL:-} ;;
  *) echo "toxic_test: backend is postgres or redis, not '$backend'" >&2; exit 2 ;;
esac
[ -n "$url" ] || skip "POPQUEUE_TEST_${backend^^}_URL is not set (scripts/with-services)"
command -v curl >/dev/null || skip "curl not found"
toxiproxy_build >/dev/null || skip "Toxiproxy could not be built"

worker=$build/tests/chaos/chaos_worker
ctl=$build/tests/chaos/chaos_ctl
jobs=30000
work=$(mktemp -d /tmp/popqueue-toxic.XXXXXX)
pids=()
cleanup() {
  local s=$?
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if ((s != 0 && s != 77)); then
    for f in "$work"/w*.log "$work"/toxiproxy.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2
  fi
  toxiproxy_stop
  rm -rf "$work"
}
trap cleanup EXIT

# host:port of the server, and the URL through the proxy.
hostport=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.hostname}:{p.port}")' "$url")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
proxied=${url/$hostport/127.0.0.1:$port}
toxiproxy_start "$work"
toxiproxy_proxy store "127.0.0.1:$port" "$hostport"
collection=toxic_$$

starts=$work/starts
: >"$starts"
"$ctl" enqueue "$url" "$collection" "$jobs"
for w in 1 2; do
  "$worker" "$proxied" "$collection" "$starts" 8 10 2>"$work/w$w.log" &
  pids+=($!)
done
"$ctl" wait "$url" "$collection" "$jobs" 300 &
waiter=$!

phase() {  # SECONDS: lets the workers run under the current toxics
  sleep "$1"
  echo "toxic_test: $(wc -l <"$starts") handler starts so far"
}
echo "toxic_test: latency 50 ms each way"
toxiproxy_toxic store lat_down latency downstream '{"latency":50,"jitter":10}'
toxiproxy_toxic store lat_up latency upstream '{"latency":50,"jitter":10}'
phase 4
toxiproxy_untoxic store lat_down
toxiproxy_untoxic store lat_up
echo "toxic_test: 64 KB/s towards the workers"
toxiproxy_toxic store thin bandwidth downstream '{"rate":64}'
phase 4
toxiproxy_untoxic store thin
echo "toxic_test: connections reset 300 ms into their life"
toxiproxy_toxic store reset reset_peer downstream '{"timeout":300}'
phase 4
toxiproxy_untoxic store reset
echo "toxic_test: no toxics"

status=0
wait "$waiter" || status=$?
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
((status == 0)) || { echo "toxic_test: the jobs did not finish" >&2; exit 1; }
# The resets must have reached the workers: their calls failed and retried.
warnings=$(cat "$work"/w*.log | grep -c WARN || true)
echo "toxic_test: $warnings warnings in the workers' logs"
{ grep WARN "$work"/w*.log | sed 's/^[^ ]* //' | cut -c1-100 | sort | uniq -c | sort -rn | head -5; } || true
((warnings > 0)) || { echo "toxic_test: no call of the workers failed under the resets" >&2; exit 1; }
printf '%s\n' "${pids[@]}" >"$work/faulted"
"$ctl" check "$url" "$collection" "$jobs" "$starts" "$work/faulted"
