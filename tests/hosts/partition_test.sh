#!/usr/bin/env bash
# A worker host cut off from the store in the middle of its jobs (issue 19).
#
# Three hosts as network namespaces (scripts/lib/netns.sh): the server host
# runs a PostgreSQL, a Redis or a Redis Cluster (3 masters + 3 replicas,
# tests/hosts/common.sh) of the test's own on the private bridge, hosts
# w1 and w2 run one chaos_worker each (tests/chaos: 8 slots, 3 s leases, jobs
# that complete, sleep, fail once or fail for good). As soon as w1 has started
# a job, its link goes down and stays down for 4 leases: its jobs (the ones
# it runs and the ones it claimed ahead) are rescued and worked by w2. Then
# the link comes back and w1 goes on: its late completions and heartbeats
# carry lease tokens the store no longer holds and are refused. In the end
# (chaos_ctl check) every job is completed or dead exactly as its handler
# decided, none is lost, and only jobs w1 had when it was cut ran twice; at
# least one of w1's jobs was run again by w2.
#
#   partition_test.sh BUILD_DIR postgres|redis|redis_cluster
#
# Needs root and `ip netns`: without them it fails under CI=true and skips
# (exit 77) elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
backend=$2
source "$root/tests/hosts/common.sh"

hosts_setup partition_test
work=$WORK
worker=$build/tests/chaos/chaos_worker
ctl=$build/tests/chaos/chaos_ctl
jobs=20000
srv=${NETNS_ADDR[srv]}
echo "partition_test: hosts srv=$srv w1=${NETNS_ADDR[w1]} w2=${NETNS_ADDR[w2]} ($backend)"

url=$(hosts_start_server "$backend" "$work")
collection=part_$$

starts=$work/starts
: >"$starts"
ip netns exec "$(netns_name w1)" "$worker" "$url" "$collection" "$starts" 8 3 2>"$work/w1.log" &
w1=$!
ip netns exec "$(netns_name w2)" "$worker" "$url" "$collection" "$starts" 8 3 2>"$work/w2.log" &
w2=$!
netns_exec srv "$ctl" enqueue "$url" "$collection" "$jobs"

# The host to cut is the maintenance leader (it rescues expired leases): the
# other host must take the leadership over before it can rescue anything.
leader=""
for _ in $(seq 500); do
  if grep -q "took maintenance leadership" "$work/w1.log"; then leader=w1; break; fi
  if grep -q "took maintenance leadership" "$work/w2.log"; then leader=w2; break; fi
  sleep 0.01
done
[ -n "$leader" ] || { echo "partition_test: no worker took the maintenance leadership" >&2; exit 1; }
if [ "$leader" = w1 ]; then cut=$w1 cut_host=w1 other=$w2 other_host=w2; else cut=$w2 cut_host=w2 other=$w1 other_host=w1; fi
for _ in $(seq 300); do
  grep -q "^$cut " "$starts" && break
  sleep 0.01
done
grep -q "^$cut " "$starts" || { echo "partition_test: $cut_host started no job" >&2; exit 1; }
netns_cut "$cut_host"
cut_line=$(wc -l <"$starts")
echo "partition_test: $cut_host (pid $cut, the leader) cut off after $(grep -c "^$cut " "$starts") job starts"
ip netns exec "$(netns_name srv)" "$ctl" wait "$url" "$collection" "$jobs" 300 &
waiter=$!
sleep 12
netns_heal "$cut_host"
echo "partition_test: $cut_host healed after 12 s"
status=0
wait "$waiter" || status=$?
kill -TERM "$w1" "$w2" 2>/dev/null || true
wait "$w1" 2>/dev/null || true
wait "$w2" 2>/dev/null || true
((status == 0)) || { echo "partition_test: the jobs did not finish" >&2; exit 1; }
grep -q "took maintenance leadership" "$work/$other_host.log" ||
  { echo "partition_test: $other_host never took the leadership over" >&2; exit 1; }
echo "partition_test: $other_host took the leadership over"

# Jobs the cut host started before the cut and the other ran again afterwards.
rescued=$(awk -v a="$cut" -v b="$other" -v cut="$cut_line" \
  'NR <= cut && $1 == a { had[$2] = 1 } NR > cut && $1 == b && had[$2] { r[$2] = 1 }
   END { n = 0; for (k in r) n++; print n }' "$starts")
echo "partition_test: $rescued of $cut_host's jobs run again by $other_host"
echo "$cut" >"$work/cut"
netns_exec srv "$ctl" check "$url" "$collection" "$jobs" "$starts" "$work/cut"
((rescued > 0)) || { echo "partition_test: no job of the cut-off worker was rescued" >&2; exit 1; }
