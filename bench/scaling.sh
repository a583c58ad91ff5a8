#!/usr/bin/env bash
# The scaling curve of issue 19 (docs/scaling.md): a burn-down of N no-op jobs
# with 1, 2, 4 and 8 worker processes, each on a network-namespace host of
# its own (scripts/lib/netns.sh), against one PostgreSQL and one Redis on the
# server host, in one run. Writes OUT/<UTC timestamp>.json (every step's
# figures, the servers' settings, the machine and its load), a markdown table
# beside it (.md) and a chart (.svg; bench/scaling.py report).
#
#   bench/scaling.sh                              # N=100000, 1 2 4 8 processes
#   bench/scaling.sh --jobs 20000 --processes "1 2" --backends redis
#   bench/scaling.sh --smoke --bin build/bench/popqueue_scaling --out /tmp/s
#
#   --jobs N          jobs per step (100000)
#   --processes LIST  worker processes per step ("1 2 4 8")
#   --backends LIST   "postgres redis"
#   --concurrency C   slots per process (100, as W2 of docs/benchmarks.md)
#   --bin PATH        popqueue_scaling (default build/bench/popqueue_scaling)
#   --out DIR         where the results go (bench/results/scaling)
#   --smoke           the ctest bench_scaling_smoke: N=10000, 1 and 2 processes
#
# Servers, started by this script on the server host and listening on the
# bridge address only, their files in a temporary folder removed at the end:
# PostgreSQL with Debian 12's durable defaults (fsync, synchronous_commit,
# full_page_writes on) and Redis with appendonly yes, appendfsync everysec.
# Their settings are read back into the JSON. Each step runs on fresh state
# (a new database; FLUSHALL and an AOF rewrite) and measures (scaling.py):
# jobs/s from the first handler start to the last completion, each process's
# share of the jobs (must be within 2x of the mean), that every job ran
# exactly once, the CPU seconds of the server processes, of the workers and
# of the machine during the run (/proc), and for Redis its main thread's CPU
# and the commands per job (INFO commandstats); for PostgreSQL the commits
# and WAL flushes per job. A failed step fails the run (exit 1), after the
# results are written.
#
# Needs root and `ip netns`: without them it fails under CI=true and exits
# 77 (a skip) elsewhere, saying why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/netns.sh"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree

jobs=100000 processes="1 2 4 8" backends="postgres redis" concurrency=100
bin=$root/build/bench/popqueue_scaling out=$root/bench/results/scaling smoke=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
while (($#)); do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --smoke) smoke=1; jobs=10000 processes="1 2"; shift ;;
    -h|--help) usage ;;
    *) echo "scaling: unknown argument $1" >&2; usage ;;
  esac
done
for v in "$jobs" "$concurrency" $processes; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "scaling: '$v' is no positive integer (--jobs, --concurrency, --processes)" >&2; exit 2; }
done
for b in $backends; do
  case "$b" in postgres|redis) ;; *) echo "scaling: backend is postgres or redis, not '$b'" >&2; exit 2 ;; esac
done
[ -n "$backends" ] || { echo "scaling: --backends is empty" >&2; exit 2; }

skip() {
  if [ "${CI:-}" = true ]; then echo "scaling: $1 (CI=true)" >&2; exit 1; fi
  echo "scaling: skipped: $1"
  exit 77
}
netns_available || skip "needs root and ip netns (iproute2)"
[ -x "$bin" ] || { echo "scaling: $bin not found (cmake --build build --target popqueue_scaling, or --bin)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
pgbin=""
if [[ " $backends " == *" postgres "* ]]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pgbin=$d; done
  [ -n "$pgbin" ] || skip "PostgreSQL server binaries not found (scripts/install-deps)"
  command -v psql >/dev/null || skip "psql not found (scripts/install-deps)"
fi
if [[ " $backends " == *" redis "* ]]; then
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    skip "redis-server / redis-cli not found (scripts/install-deps)"
fi

work=$(mktemp -d /tmp/popqueue-scaling.XXXXXX)
chmod 755 "$work"
cleanup() {
  netns_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

max=1
for p in $processes; do ((p > max)) && max=$p; done
netns_init
for i in $(seq "$max"); do netns_host "w$i"; done
srv=${NETNS_ADDR[srv]}
echo "scaling: server host $srv, $max worker hosts, $jobs jobs per step, $concurrency slots per process"

pg_url="" redis_url=""
if [ -n "$pgbin" ]; then
  runas=postgres
  id postgres >/dev/null 2>&1 || runas=nobody
  mkdir "$work/pg"
  chown "$runas" "$work/pg"
  (cd / && su -s /bin/sh "$runas" -c "'$pgbin/initdb' -D '$work/pg/data' -U postgres -A trust -E UTF8 >'$work/pg/initdb.log' 2>&1") ||
    { cat "$work/pg/initdb.log" >&2; exit 1; }
  echo "host all all $NETNS_NET.0/24 trust" >>"$work/pg/data/pg_hba.conf"
  # Debian 12's defaults otherwise: durable (fsync, synchronous_commit on).
  (cd / && netns_exec srv su -s /bin/sh "$runas" -c "'$pgbin/pg_ctl' -D '$work/pg/data' -l '$work/pg/server.log' -w -t 60 -o \"-p 5432 -k '$work/pg' -c listen_addresses=$srv\" start >/dev/null") ||
    { cat "$work/pg/server.log" >&2; exit 1; }
  pg_url="postgres://postgres@$srv:5432/postgres"
fi
if [[ " $backends " == *" redis "* ]]; then
  mkdir "$work/redis"
  netns_exec srv redis-server --bind "$srv" --port 6379 --protected-mode no --save '' \
    --appendonly yes --appendfsync everysec --dir "$work/redis" --daemonize no \
    >"$work/redis/server.log" 2>&1 &
  for _ in $(seq 100); do
    netns_exec srv redis-cli -h "$srv" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  netns_exec srv redis-cli -h "$srv" ping 2>/dev/null | grep -q PONG ||
    { cat "$work/redis/server.log" >&2; exit 1; }
  redis_url="redis://$srv:6379"
fi

settings="{}"
[ -n "$pg_url" ] && settings=$(netns_exec srv python3 "$root/bench/counters.py" merge "$settings" \
  "{\"postgres\":$(netns_exec srv python3 "$root/bench/counters.py" pg-settings "$pg_url")}")
[ -n "$redis_url" ] && settings=$(netns_exec srv python3 "$root/bench/counters.py" merge "$settings" \
  "{\"redis\":$(netns_exec srv python3 "$root/bench/counters.py" redis-settings "$redis_url")}")

status=0
: >"$work/steps.jsonl"
timeout=$((120 + jobs / 200))
for backend in $backends; do
  url=$pg_url
  [ "$backend" = redis ] && url=$redis_url
  for p in $processes; do
    hosts=""
    for i in $(seq "$p"); do hosts="$hosts $(netns_name "w$i")"; done
    echo "scaling: $backend, $p processes ($(cut -d' ' -f1 /proc/loadavg) load)"
    line=$(netns_exec srv python3 "$root/bench/scaling.py" step --backend "$backend" --url "$url" \
      --hosts "${hosts# }" --jobs "$jobs" --concurrency "$concurrency" --bin "$bin" \
      --work "$work/$backend-$p" --pg-data "$work/pg/data" --timeout "$timeout") || status=1
    echo "$line" >>"$work/steps.jsonl"
    python3 - "$line" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
if s.get("jobs_per_s"):
    shares = [p["share"] for p in s["per_process"]]
    print(f'scaling:   {s["jobs_per_s"]:.0f} jobs/s, shares {min(shares):.2f}-{max(shares):.2f} of the mean, '
          f'server {s["server_cpu"]["us_per_job"]:.0f} us CPU per job ({s["server_cpu"]["cores"]:.2f} cores), '
          f'machine {s["machine"]["busy_cores"]:.2f} cores busy')
for e in s.get("errors", []):
    print(f"scaling:   FAILED: {e}", file=sys.stderr)
EOF
  done
done

mkdir -p "$out"
file=$out/$stamp.json
python3 - "$work/steps.jsonl" "$settings" "$file" "$started_at" "$load_start" "$jobs" "$concurrency" "$smoke" <<'EOF'
import json, os, platform, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
run = {
    "started_at": sys.argv[4],
    "load_start": [float(x) for x in sys.argv[5].split()],
    "load_end": list(os.getloadavg()),
    "host": {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release()},
    "jobs": int(sys.argv[6]), "concurrency": int(sys.argv[7]), "smoke": sys.argv[8] == "1",
    "servers": json.loads(sys.argv[2]),
    "ok": all(s.get("ok") for s in steps),
    "steps": steps,
}
open(sys.argv[3], "w").write(json.dumps(run, indent=1) + "\n")
EOF
python3 "$root/bench/scaling.py" report "$file" >"${file%.json}.md" || status=1
cat "${file%.json}.md"
echo "scaling: wrote $file (and .md, .svg)"
exit "$status"
