#!/usr/bin/env bash
# The original README's "Redis Clustering" recipe, as printed, then pop-queue
# on the cluster it makes (docs/readme-contract.md).
#
# In a network namespace of its own (scripts/lib/netns.sh), whose 127.0.0.1
# has ports 7000-7005 free by construction: nodes configured with the
# README's block verbatim (only `port 7000` changed per node), started as its
# step 2 prints (`redis-server /path/to/redis.conf`), and its step 3 as
# printed. That command cannot work: redis-cli refuses 3 nodes with one
# replica each ("At least 6 nodes are required"); the test checks that this
# is still so (if a redis-cli ever accepts it, the README works as printed
# and this test must change). Then the same command naming 6 nodes, which is
# what docs/redis-store.md tells users, and pop-queue on it: `popqueue
# enqueue` and `popqueue jobs` with `redis://127.0.0.1:7000/?cluster=1` on
# the queues of one collection, whose slots sit on each of the three masters.
#
#   readme_redis_cluster_test.sh README POPQUEUE_CLI
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
readme=$1
cli=$2
source "$root/scripts/lib/netns.sh"
if ! netns_available; then
  why="needs root and ip netns (a private 127.0.0.1 for the README's ports 7000-7005)"
  if [ "${CI:-}" = true ]; then echo "readme_redis_cluster: $why (CI=true)" >&2; exit 1; fi
  echo "readme_redis_cluster: skipped: $why"
  exit 77
fi
work=$(mktemp -d /tmp/popqueue-readme-cluster.XXXXXX)
cleanup() { netns_cleanup; rm -rf "$work"; }
trap cleanup EXIT
netns_init
in_ns() { netns_exec srv "$@"; }
snippet() { python3 "$here/readme_snippet.py" "$readme" "Redis Clustering" "$1"; }

conf=$(snippet 0)
start=$(snippet 1)
create=$(snippet 2)
grep -qx 'port 7000' <<<"$conf" || { echo "readme_redis_cluster: no 'port 7000' line in the README's block" >&2; exit 1; }
[ "$start" = "redis-server /path/to/redis.conf" ] || { echo "readme_redis_cluster: step 2 changed: $start" >&2; exit 1; }
for port in 7000 7001 7002 7003 7004 7005; do
  mkdir -p "$work/$port"
  sed "s/^port 7000\$/port $port/" <<<"$conf" >"$work/$port/redis.conf"
  # Step 2 with the path filled in (nodes.conf and the AOF go to the cwd).
  (cd "$work/$port" && in_ns ${start/\/path\/to\/redis.conf/$work/$port/redis.conf} --daemonize yes >/dev/null)
done
for port in 7000 7001 7002 7003 7004 7005; do
  for _ in $(seq 100); do in_ns redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
done

# Step 3 as printed (--cluster-yes answers its question).
if out=$(in_ns $create --cluster-yes 2>&1); then
  echo "readme_redis_cluster: the README's step 3 now works as printed; update this test" >&2
  exit 1
fi
grep -q "At least 6 nodes are required" <<<"$out" ||
  { echo "readme_redis_cluster: step 3 failed otherwise: $out" >&2; exit 1; }
echo "readme_redis_cluster: step 3 as printed: redis-cli refuses it (At least 6 nodes are required)"

# The same command naming six nodes.
six=${create/127.0.0.1:7002/127.0.0.1:7002 127.0.0.1:7003 127.0.0.1:7004 127.0.0.1:7005}
in_ns $six --cluster-yes >"$work/create.log" 2>&1 || { cat "$work/create.log" >&2; exit 1; }
for _ in $(seq 300); do
  n=$(in_ns redis-cli -p 7000 cluster nodes 2>/dev/null | grep -c slave || true)
  in_ns redis-cli -p 7000 cluster info 2>/dev/null | grep -q cluster_state:ok && [ "$n" = 3 ] && break
  sleep 0.1
done
echo "readme_redis_cluster: $six: $(in_ns redis-cli -p 7000 cluster nodes | grep -c master) masters, $(in_ns redis-cli -p 7000 cluster nodes | grep -c slave) replicas"

# pop-queue on it, naming the first node only: one collection whose queues
# (each has a hash tag of its own, {<collection>:<queue>}) lie on every
# master, and every job listed by `popqueue jobs` over the whole collection.
url='redis://127.0.0.1:7000/?cluster=1'
collection=readme_c
declare -A seen=()
ids=()
i=0
while ((${#seen[@]} < 3 && i < 200)); do
  queue=q$i
  i=$((i + 1))
  id=$(in_ns "$cli" enqueue send-email --data '{"to":"a@example.com"}' --queue "$queue" --db-url "$url" --collection "$collection") ||
    { echo "readme_redis_cluster: enqueue on queue $queue failed" >&2; exit 1; }
  ids+=("$id")
  # Which master holds the queue's keys.
  owner=""
  for port in 7000 7001 7002 7003 7004 7005; do
    in_ns redis-cli -p "$port" info replication | grep -q role:master || continue
    [ -n "$(in_ns redis-cli -p "$port" --scan --pattern "{$collection:$queue}:*" | head -1)" ] && owner=$port
  done
  [ -n "$owner" ] || { echo "readme_redis_cluster: no master holds queue $queue" >&2; exit 1; }
  seen[$owner]=1
done
((${#seen[@]} == 3)) || { echo "readme_redis_cluster: queues reached ${#seen[@]} masters only" >&2; exit 1; }
jobs=$(in_ns "$cli" jobs --json --limit 500 --db-url "$url" --collection "$collection")
for id in "${ids[@]}"; do
  grep -q "$id" <<<"$jobs" || { echo "readme_redis_cluster: job $id not listed: $jobs" >&2; exit 1; }
done
echo "readme_redis_cluster: popqueue enqueue/jobs with $url on $i queues of one collection, spread over all 3 masters"
