#!/usr/bin/env bash
# The store server unreachable from every worker host for longer than the
# lease (issue 19), in two faults, while chaos_worker processes on hosts w1
# and w2 (tests/chaos: 8 slots, 3 s leases, 0.5 s heartbeats) drain the jobs:
#
# 1. stall: every process of the server host is SIGSTOPped for 4.5 s (1.5
#    leases; under the Redis client's 5 s command timeout and PostgreSQL's
#    65 s query timeout): the workers' calls, the leader's included, do not
#    fail but answer late. Leases lapse meanwhile, of live workers only. The
#    rescuer must not take them (src/core/maintenance.cc counts a call slower
#    than a heartbeat interval as an outage, and waits one lease): no handler
#    may lose its lease to this fault. Before that fix the same run had
#    hundreds of duplicate runs.
# 2. cut: the server host's links (its veths to w1 and w2) go down for 9 s
#    (3 leases), and the worker on w2 is SIGKILLed during the cut (a host
#    that died: its jobs must come back). After the heal a fresh worker starts
#    on w2. Time to rescue: from the heal until the rescuer returns the killed
#    worker's jobs (its log line; about one lease: the rescuer waits that long
#    after an outage), and until the first of them starts again elsewhere
#    (later: rescued jobs queue behind the backlog, run_at = now).
#
# In the end (chaos_ctl check) every job is completed or dead exactly as its
# handler decided, none is lost, and every run beyond the plan is explained by
# the kill or by a handler that was told it lost its lease ("job <id>: lease
# lost" in the worker logs). Prints jobs, faults, lost, duplicates and time
# to rescue.
#
#   outage_test.sh BUILD_DIR postgres|redis
#
# Needs root and `ip netns`: without them it fails under CI=true and skips
# (exit 77) elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
backend=$2
source "$root/tests/hosts/common.sh"

hosts_setup outage_test
work=$WORK
worker=$build/tests/chaos/chaos_worker
ctl=$build/tests/chaos/chaos_ctl
jobs=20000
srv=${NETNS_ADDR[srv]}
echo "outage_test: hosts srv=$srv w1=${NETNS_ADDR[w1]} w2=${NETNS_ADDR[w2]} ($backend)"

url=$(hosts_start_server "$backend" "$work")
collection=outage_$$
starts=$work/starts
: >"$starts"
ip netns exec "$(netns_name w1)" "$worker" "$url" "$collection" "$starts" 8 3 2>"$work/w1.log" &
a=$!
ip netns exec "$(netns_name w2)" "$worker" "$url" "$collection" "$starts" 8 3 2>"$work/w2.log" &
b=$!
netns_exec srv "$ctl" enqueue "$url" "$collection" "$jobs"
for _ in $(seq 500); do
  grep -q "^$a " "$starts" && grep -q "^$b " "$starts" && break
  sleep 0.01
done
grep -q "^$a " "$starts" && grep -q "^$b " "$starts" ||
  { echo "outage_test: the workers started no jobs" >&2; exit 1; }
lease_lost() { cat "$work"/w*.log | grep -c ": lease lost" || true; }

# Fault 1: the server stalls for 1.5 leases.
server_pids=$(ip netns pids "$(netns_name srv)")
before=$(wc -l <"$starts")
kill -STOP $server_pids
sleep 4.5
kill -CONT $server_pids
echo "outage_test: fault 1: server stopped 4.5 s (SIGSTOP) after $before handler starts"
sleep 7  # two leases and more: a rescuer that did not wait has rescued by now
lost1=$(lease_lost)
stall_rescues=$(cat "$work"/w*.log | grep -c "rescuer: .* jobs with expired leases returned" || true)
echo "outage_test: fault 1: $lost1 handlers lost their lease, $stall_rescues rescues"
if ((lost1 != 0)); then
  grep -h "lease lost\|rescuer" "$work"/w*.log | head -20 >&2
  echo "outage_test: the rescuer took leases of live workers after a stall" >&2
  exit 1
fi

# Fault 2: the server's links cut for 3 leases; w2's worker dies meanwhile.
ip netns exec "$(netns_name srv)" "$ctl" wait "$url" "$collection" "$jobs" 300 &
waiter=$!
netns_cut w1
netns_cut w2
sleep 1
kill -KILL "$b"
wait "$b" 2>/dev/null || true
echo "$b" >"$work/killed"
kill_line=$(wc -l <"$starts")
sleep 8
netns_heal w1
netns_heal w2
healed=$(date +%s.%N)
healed_iso=$(date -u -d "@$healed" +%Y-%m-%dT%H:%M:%S.%3NZ)
echo "outage_test: fault 2: links cut 9 s, worker $b on w2 killed during the cut"
ip netns exec "$(netns_name w2)" "$worker" "$url" "$collection" "$starts" 8 3 2>"$work/w2b.log" &
c=$!
# Time to rescue: the first start, after the kill, of a job the killed worker
# had started (by a worker still alive).
rerun=""
for _ in $(seq 600); do
  if awk -v k="$b" -v line="$kill_line" \
       'NR <= line && $1 == k { had[$2] = 1 } NR > line && $1 != k && had[$2] { found = 1; exit }
        END { exit !found }' "$starts"; then
    rerun=$(echo "$(date +%s.%N) - $healed" | bc)
    break
  fi
  sleep 0.05
done
status=0
wait "$waiter" || status=$?
kill -TERM "$a" "$c" 2>/dev/null || true
wait "$a" 2>/dev/null || true
wait "$c" 2>/dev/null || true
((status == 0)) || { echo "outage_test: the jobs did not finish" >&2; exit 1; }
[ -n "$rerun" ] || { echo "outage_test: no job of the killed worker ran again" >&2; exit 1; }
# The first rescue after the heal, from the workers' log lines (ISO times).
first=$(cat "$work"/w1.log "$work"/w2b.log | grep "jobs with expired leases returned" |
  awk -v h="$healed_iso" '$1 > h { print $1 }' | sort | head -1)
[ -n "$first" ] || { echo "outage_test: the rescuer returned no job after the heal" >&2; exit 1; }
rescue=$(echo "$(date -d "$first" +%s.%N) - $healed" | bc)

cat "$work"/w1.log "$work"/w2.log "$work"/w2b.log >"$work/workers.log"
result=$(netns_exec srv "$ctl" check "$url" "$collection" "$jobs" "$starts" "$work/killed" \
  "$work/workers.log") || { echo "$result"; echo "outage_test: check failed" >&2; exit 1; }
echo "$result"
field() { echo "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
printf 'outage_test: %s jobs=%s faults=3 (server stopped 4.5 s, links cut 9 s, a worker killed) lost=%s duplicated_jobs=%s (explained: %s, runs explained by a lost lease: %s; leases lost to the stall: %s) time_to_rescue=%.1f s first_rerun=%.1f s\n' \
  "$backend" "$(field jobs)" "$(field lost)" "$(field duplicated_jobs)" "$(field in_flight_at_kill)" \
  "$(field lease_lost_runs)" "$lost1" "$rescue" "$rerun"
