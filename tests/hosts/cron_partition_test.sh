#!/usr/bin/env bash
# Cron across a cut-off host (issue 19): two hosts as network namespaces
# (scripts/lib/netns.sh) each run cron_worker (tests/integration: the same
# three every-second schedules, racing for every fire through the store's
# fire records) against a PostgreSQL, a Redis or a Redis Cluster of the
# test's own on the server host (tests/hosts/common.sh), for 16 s. From
# second 4 to second 10 host w1's link is down; when it comes back it races
# again, also for the fire times it missed. Every fire
# time of every schedule must be enqueued exactly once, and w2 alone must have
# kept firing while w1 was away (no second without a fire longer than 2 s).
#
#   cron_partition_test.sh BUILD_DIR postgres|redis|redis_cluster
#
# Needs root and `ip netns`: fails under CI=true without them, skips (exit 77)
# elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
backend=$2
source "$root/tests/hosts/common.sh"

hosts_setup cron_partition_test
work=$WORK
url=$(hosts_start_server "$backend" "$work")
collection=cronpart_$$

start_ms=$(( ($(date +%s) + 2) * 1000 ))
run_ms=16000
ip netns exec "$(netns_name w1)" "$build/tests/integration/cron_worker" "$url" "$collection" "$start_ms" "$run_ms" 2>"$work/w1.log" &
w1=$!
ip netns exec "$(netns_name w2)" "$build/tests/integration/cron_worker" "$url" "$collection" "$start_ms" "$run_ms" 2>"$work/w2.log" &
w2=$!
sleep_until() { python3 -c 'import sys, time; time.sleep(max(0, int(sys.argv[1]) / 1000 - time.time()))' "$1"; }
sleep_until $((start_ms + 4000))
netns_cut w1
echo "cron_partition_test: w1 cut off at second 4"
sleep_until $((start_ms + 10000))
netns_heal w1
echo "cron_partition_test: w1 healed at second 10"
wait "$w1" || { echo "cron_partition_test: w1 failed" >&2; exit 1; }
wait "$w2" || { echo "cron_partition_test: w2 failed" >&2; exit 1; }

ip netns exec "$(netns_name srv)" "$build/src/cli/popqueue" jobs --db-url "$url" \
  --collection "$collection" --queue cron-race --limit 1000 --json >"$work/jobs.json"
python3 - "$work/jobs.json" "$start_ms" "$run_ms" <<'EOF'
import collections, json, sys
from datetime import datetime
jobs = json.load(open(sys.argv[1]))["jobs"]
start, run = int(sys.argv[2]), int(sys.argv[3])
def ms(t):
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
fires = collections.defaultdict(list)
for j in jobs:
    fires[j["name"]].append(ms(j["runAt"]))
ok = len(fires) == 3
for name, times in sorted(fires.items()):
    times.sort()
    dups = len(times) - len(set(times))
    gaps = [b - a for a, b in zip(times, times[1:])]
    window = [t for t in times if start + 4000 <= t < start + 10000]
    print(f"cron_partition_test: {name}: {len(times)} fires, {dups} twice, "
          f"largest gap {max(gaps) if gaps else 0} ms, {len(window)} during the cut")
    ok = ok and dups == 0 and all(t % 1000 == 0 for t in times)
    ok = ok and gaps and max(gaps) <= 2000 and len(window) >= 4
sys.exit(0 if ok else 1)
EOF
