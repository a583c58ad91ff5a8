#!/usr/bin/env bash
# Exactly one maintenance leader across servers and workers: two
# `popqueue serve` and one `popqueue worker` over one SQLite file, the
# leadership row sampled from the store every 50 ms while the leader is
# stopped (SIGTERM: it resigns) twice, so each process leads in turn.
#
#   run_leader_test.sh <popqueue>
#
# Checks, at every sample: exactly one unexpired leader row, held by one of
# the three live processes; after each stop, another takes over within the
# rescue interval (1 s) plus slack; and from the processes' own logs (took /
# lost / resigned), no two ever believed they led at the same time.
set -euo pipefail
popqueue=$1
work=$(mktemp -d)
db_url=sqlite://$work/q.db
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

python3 - "$work" <<'PY'
import os, re, signal, sqlite3, sys, time
work = sys.argv[1]
procs = dict(line.split() for line in open(os.path.join(work, "ids")))
procs = {k: int(v) for k, v in procs.items()}
db = sqlite3.connect(os.path.join(work, "q.db"), timeout=5)

def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    for name in procs:
        print("--- %s.log ---" % name, file=sys.stderr)
        print(open(os.path.join(work, name + ".log")).read()[-3000:], file=sys.stderr)
    sys.exit(1)

def leaders():
    rows = db.execute('SELECT leader_id, expires_at FROM "jobs_leaders" '
                      "WHERE name = 'maintenance'").fetchall()
    now = time.time()
    live = []
    for leader, expires in rows:
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
        except sqlite3.OperationalError as e:  # the table before the first election
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
    except sqlite3.OperationalError:
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
