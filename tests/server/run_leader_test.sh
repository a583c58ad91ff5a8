#!/usr/bin/env bash
# Exactly one maintenance leader across servers and workers: two
# `popqueue serve` and one `popqueue worker` over one SQLite file, the
# leadership row sampled from the store every 50 ms while the leader is
# stopped (SIGTERM: it resigns) twice, so each process leads in turn.
#
#   run_leader_test.sh <popqueue> [sqlite|postgres]
#
# postgres: on the server of POPQUEUE_TEST_POSTGRES_URL (scripts/with-services),
# in a collection of its own, sampled with psql; skipped (77) without the URL,
# a failure under CI=true.
#
# Checks, at every sample: exactly one unexpired leader row, held by one of
# the three live processes; after each stop, another takes over within the
# rescue interval (1 s) plus slack; and from the processes' own logs (took /
# lost / resigned), no two ever believed they led at the same time.
set -euo pipefail
popqueue=$1 backend=${2:-sqlite}
work=$(mktemp -d)
collection=leader$$
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
  *) echo "usage: run_leader_test.sh <popqueue> [sqlite|postgres]" >&2; exit 2 ;;
esac
export POPQUEUE_COLLECTION=$collection
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export POPQUEUE_RESCUE_INTERVAL=1s
"$popqueue" migrate --db-url "$db_url" >/dev/null
for id in server-a server-b; do
  WORKER_ID=$id "$popqueue" serve --db-url "$db_url" --port 0 --host 127.0.0.1 \
    --no-grpc --log-level info 2>"$work/$id.log" &
  pids+=($!)
  echo "$id $!" >>"$work/ids"
done
"$popqueue" worker --db-url "$db_url" --worker-id worker-c --queues leader-test \
  --exec noop=true --log-level info 2>"$work/worker-c.log" &
pids+=($!)
echo "worker-c $!" >>"$work/ids"

python3 - "$work" "$backend" "$db_url" "$collection" <<'PY'
import os, re, signal, sqlite3, subprocess, sys, time
work, backend, db_url, collection = sys.argv[1:5]
procs = dict(line.split() for line in open(os.path.join(work, "ids")))
procs = {k: int(v) for k, v in procs.items()}
if backend == "sqlite":
    db = sqlite3.connect(os.path.join(work, "q.db"), timeout=5)
else:
    psql_url = db_url.split("?")[0]
    def psql(sql):
        return subprocess.run(["psql", psql_url, "-Atc", sql], check=True,
                              capture_output=True, text=True).stdout.split("\n")
    found = [l for l in psql("SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
                             "FROM information_schema.tables WHERE table_name LIKE '%s%%leaders'"
                             % collection) if l]
    if len(found) != 1:
        print("FAIL: leaders table of %s: %s" % (collection, found), file=sys.stderr)
        sys.exit(1)
    leaders_table = found[0]

def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    for name in procs:
        print("--- %s.log ---" % name, file=sys.stderr)
        print(open(os.path.join(work, name + ".log")).read()[-3000:], file=sys.stderr)
    sys.exit(1)

def rows():
    if backend == "sqlite":
        return db.execute('SELECT leader_id, expires_at FROM "%s_leaders" '
                          "WHERE name = 'maintenance'" % collection).fetchall()
    out = psql("SELECT leader_id || ' ' || expires_at FROM %s WHERE name = 'maintenance'"
               % leaders_table)
    return [(l.split()[0], int(l.split()[1])) for l in out if l]

def leaders():
    rows_now = rows()
    now = time.time()
    live = []
    for leader, expires in rows_now:
        scale = 1e6 if expires > 1e14 else 1e3 if expires > 1e11 else 1
        if expires / scale > now:
            live.append(leader)
    return live

def sample(seconds, alive):
    """Samples every 50 ms; returns the leader seen last."""
    end = time.time() + seconds
    seen = None
    n = 0
    while time.time() < end:
        try:
            live = leaders()
        except (sqlite3.OperationalError, subprocess.CalledProcessError):  # before the first election
            live = []
        if len(live) != 1 and (n > 0 or seen is not None):
            fail("sample %d: %d live leaders %s (want exactly 1)" % (n, len(live), live))
        if live:
            if live[0] not in alive:
                fail("leader %s is not a live process (%s)" % (live[0], sorted(alive)))
            seen = live[0]
        n += 1
        time.sleep(0.05)
    return seen, n

alive = set(procs)
deadline = time.time() + 20
while True:
    try:
        if leaders():
            break
    except (sqlite3.OperationalError, subprocess.CalledProcessError):
        pass
    if time.time() > deadline:
        fail("no leader elected in 20 s")
    time.sleep(0.05)
total = 0
for round in range(3):
    leader, n = sample(3, alive)
    total += n
    print("leader-test: round %d: %s leads (%d samples, all with exactly one leader)"
          % (round, leader, n), flush=True)
    if round == 2:
        break
    os.kill(procs[leader], signal.SIGTERM)
    stopped = time.time()
    alive.discard(leader)
    # The next one takes over within a rescue interval (1 s) plus slack.
    while True:
        live = leaders()
        if live and live[0] in alive:
            print("leader-test: %s took over %.2f s after %s stopped"
                  % (live[0], time.time() - stopped, leader), flush=True)
            break
        if time.time() - stopped > 5:
            fail("no new leader 5 s after %s stopped (rows: %s)" % (leader, live))
        time.sleep(0.05)

# From the logs: the intervals each process believed it led never overlap.
stamp = re.compile(r"^(\S+Z) .*worker (\S+) (took|lost|resigned) maintenance leadership")
events = []
for name in procs:
    for line in open(os.path.join(work, name + ".log")):
        m = stamp.match(line)
        if m:
            events.append((m.group(1), m.group(2), m.group(3)))
events.sort()
believers = set()
for at, who, what in events:
    if what == "took":
        if believers - {who}:
            fail("%s: %s took leadership while %s held it" % (at, who, believers))
        believers.add(who)
    else:
        believers.discard(who)
print("leader-test: %d samples, %d leadership changes in the logs, one leader throughout"
      % (total, sum(1 for e in events if e[2] == "took")), flush=True)
PY
