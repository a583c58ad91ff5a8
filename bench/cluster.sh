#!/usr/bin/env bash
# One Redis node vs the 3-master Redis Cluster, same run, same machine
# (issue 18): enqueue (W1, batches of B) and burn-down (W2) of N jobs spread
# over Q queues of one collection (Q = 6: two queues per master), through
# popqueue_bench --queues. Both servers are this script's own, on free
# loopback ports (scripts/lib/services.sh): redis-server with AOF
# (appendonly yes, appendfsync everysec) and the tests' cluster, 3 masters +
# 3 replicas with the same AOF settings. Each workload alternates single,
# cluster, single, cluster (R rounds), each on a fresh collection; the table
# gives medians, the cluster/single ratio, and the load average before each.
#
#   bench/cluster.sh --bin build/bench/popqueue_bench [--jobs N] [--batch B]
#                    [--queues Q] [--concurrency C] [--rounds R] [--wait W]
#
# --wait W adds wait=W to the cluster URL (every write waits for W replicas).
# Prints a Markdown table on stdout; the raw JSON lines go to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="" jobs=20000 batch=100 queues=6 concurrency=100 rounds=2 wait=0
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --queues) queues=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --wait) wait=$2; shift 2 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "cluster.sh: --bin must name a built popqueue_bench" >&2; exit 2; }
source "$root/scripts/lib/services.sh"
SERVICES_DIR=$(mktemp -d /tmp/popqueue-bench-cluster.XXXXXX)
trap 'stop_redis_cluster; [ -n "${REDIS_STOP:-}" ] && "$REDIS_STOP"; rm -rf "$SERVICES_DIR"' EXIT
start_redis >&2
start_redis_cluster >&2
single=$POPQUEUE_TEST_REDIS_URL
cluster=$POPQUEUE_TEST_REDIS_CLUSTER_URL
[ "$wait" != 0 ] && cluster="$cluster&wait=$wait"

# run TARGET WORKLOAD: one JSON line (also to stderr).
run() {
  local url=$1 workload=$2 line
  [ "$1" = single ] && url=$single || url=$cluster
  line=$("$bin" --workload "$workload" --json --jobs "$jobs" --batch "$batch" \
    --queues "$queues" --concurrency "$concurrency" --db-url "$url" \
    --collection "bcl_${1}_${workload}_$RANDOM$RANDOM")
  echo "$1 $line" >&2
  echo "$1 $line"
}

results=$(for workload in w1 w2; do
  for ((r = 0; r < rounds; r++)); do run single $workload; run cluster $workload; done
done)
python3 - "$jobs" "$batch" "$queues" "$concurrency" "$wait" <<PY
import json, statistics, sys
jobs, batch, queues, conc, wait = sys.argv[1:]
rows = {}
for line in """$results""".strip().splitlines():
    target, js = line.split(" ", 1)
    d = json.loads(js)
    rows.setdefault((d["workload"], target), []).append(d)
print(f"N={jobs}, {queues} queues, W1 batches of {batch}, W2 {conc} slots; cluster wait={wait}\n")
print("| workload | 1 node (jobs/s) | 3-master cluster (jobs/s) | cluster / 1 node | load before (1 min) |")
print("|---|---|---|---|---|")
for w, name in (("w1", f"enqueue (W1, batch {batch})"), ("w2", "burn-down (W2)")):
    s = [d["jobs_per_s"] for d in rows.get((w, "single"), [])]
    c = [d["jobs_per_s"] for d in rows.get((w, "cluster"), [])]
    if not s or not c:
        continue
    ms, mc = statistics.median(s), statistics.median(c)
    loads = [d["load"][0] for d in rows[(w, "single")] + rows[(w, "cluster")]]
    ok = all(d["ok"] for d in rows[(w, "single")] + rows[(w, "cluster")])
    print(f"| {name} | {ms:.0f} ({', '.join(f'{x:.0f}' for x in s)}) | {mc:.0f} "
          f"({', '.join(f'{x:.0f}' for x in c)}) | {mc / ms:.2f} | "
          f"{min(loads):.2f}-{max(loads):.2f} |" + ("" if ok else " NOT exactly once"))
PY
