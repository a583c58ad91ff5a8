#!/usr/bin/env bash
# Worker hosts seen through the registry (issue 19): a chaos_worker (tests/
# chaos) on each of hosts w1 and w2 registers in the store of the server host
# (PostgreSQL or Redis, the test's own); `popqueue workers`, run on the server
# host, lists both, each with the address its host has on the private bridge
# (the one the server sees) and its pid, in the table and in --json. A worker
# stopped with SIGTERM deregisters and leaves the list.
#
#   workers_test.sh BUILD_DIR postgres|redis
#
# Needs root and `ip netns`: without them it fails under CI=true and skips
# (exit 77) elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
backend=$2
source "$root/tests/hosts/common.sh"

hosts_setup workers_test
work=$WORK
worker=$build/tests/chaos/chaos_worker
cli=$build/src/cli/popqueue
srv=${NETNS_ADDR[srv]}
echo "workers_test: hosts srv=$srv w1=${NETNS_ADDR[w1]} w2=${NETNS_ADDR[w2]} ($backend)"
url=$(hosts_start_server "$backend" "$work")
collection=workers_$$

ip netns exec "$(netns_name w1)" "$worker" "$url" "$collection" "$work/starts" 2 3 2>"$work/w1.log" &
a=$!
ip netns exec "$(netns_name w2)" "$worker" "$url" "$collection" "$work/starts" 2 3 2>"$work/w2.log" &
b=$!
workers() {
  netns_exec srv "$cli" workers --db-url "$url" --db-name popqueue --collection "$collection" "$@"
}
listed=""
for _ in $(seq 150); do
  listed=$(workers 2>&1) || true
  [ "$(echo "$listed" | grep -c " $NETNS_NET\." || true)" -ge 2 ] && break
  sleep 0.1
done
echo "$listed"
# ID HOST ADDRESS PID ...: one row per worker host, with its address and pid.
for host in w1 w2; do
  if [ "$host" = w1 ]; then pid=$a; else pid=$b; fi
  addr=${NETNS_ADDR[$host]}
  echo "$listed" | awk -v ad="$addr" -v pid="$pid" 'NR > 1 && $3 == ad && $4 == pid { found = 1 } END { exit !found }' ||
    { echo "workers_test: no row with $host's address $addr and pid $pid" >&2; exit 1; }
  json=$(workers --json)
  echo "$json" | tr -d ' \n' | grep -q "\"address\":\"$addr\"" ||
    { echo "workers_test: --json lacks address $addr: $json" >&2; exit 1; }
  echo "$json" | tr -d ' \n' | grep -q "\"pid\":$pid[,}]" ||
    { echo "workers_test: --json lacks pid $pid: $json" >&2; exit 1; }
done
rows=$(echo "$listed" | awk 'NR > 1' | wc -l)
((rows == 2)) || { echo "workers_test: $rows workers listed, expected 2" >&2; exit 1; }
echo "workers_test: popqueue workers on srv lists w1 (${NETNS_ADDR[w1]}, pid $a) and w2 (${NETNS_ADDR[w2]}, pid $b)"

# A stopped worker deregisters.
kill -TERM "$a"
wait "$a" 2>/dev/null || true
listed=$(workers)
echo "$listed" | awk -v ad="${NETNS_ADDR[w1]}" 'NR > 1 && $3 == ad { found = 1 } END { exit found }' ||
  { echo "workers_test: w1's worker still listed after SIGTERM: $listed" >&2; exit 1; }
echo "$listed" | awk -v ad="${NETNS_ADDR[w2]}" -v pid="$b" 'NR > 1 && $3 == ad && $4 == pid { found = 1 } END { exit !found }' ||
  { echo "workers_test: w2's worker missing: $listed" >&2; exit 1; }
echo "workers_test: after SIGTERM on w1 only w2's worker is listed"
kill -TERM "$b"
wait "$b" 2>/dev/null || true
