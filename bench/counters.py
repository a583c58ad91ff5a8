#!/usr/bin/env python3
"""Server-side cost counters for scripts/bench: what one run cost the
database, independent of how busy the machine was. Standard library only;
talks to the servers through psql and redis-cli.

    counters.py pg-settings URL            JSON of the server's settings
    counters.py redis-settings URL
    counters.py pg-begin URL DB [--checkpoint]   snapshot before a run (JSON)
    counters.py pg-end URL DB SNAPSHOT     {"pg": deltas since SNAPSHOT}
    counters.py redis-begin URL            snapshot before a run (JSON)
    counters.py redis-end URL SNAPSHOT     {"redis": deltas since SNAPSHOT}
    counters.py merge LINE JSON...         LINE (a run's JSON line) with the
                                           objects' fields added

PostgreSQL (URL: a superuser connection to the maintenance database; DB: the
run's own database, which nothing else uses):
  commits     pg_stat_database.xact_commit of DB (every transaction that
              committed, read-only ones included)
  wal_*       pg_stat_wal (wal_sync = WAL flushes to disk, wal_bytes, ...):
              server-wide, so nothing else may run on the server meanwhile
  statements  pg_stat_statements of DB (when the server preloads it)

PostgreSQL 15 publishes a backend's counters when it exits, or when it has
been idle a while (at most every second, up to 10 s late); there is no
pg_stat_force_next_flush() before 16. So pg-end first waits until DB has no
backend left (the run's processes have exited and an autovacuum worker, if
one came, has finished: a backend publishes its counters before it leaves
pg_stat_activity), then reads pg_stat_wal until two reads 0.25 s apart agree
(the WAL writer and checkpointer publish theirs after each round of work).
pg-begin does the same before the run, after an optional CHECKPOINT (every
run then starts right after one: the full-page images a run writes, "the
first change of a page after a checkpoint", are the same for every system).
Each read is a fresh psql connection, so no snapshot of the statistics is
cached across reads.

Redis: INFO commandstats deltas (every command, those run inside Lua scripts
included, so an EVALSHA and the calls it makes all count); the INFO call of
redis-begin itself is taken off.
"""
import json
import os
import re
import subprocess
import sys
import time

WAL_FIELDS = ["wal_records", "wal_fpi", "wal_bytes", "wal_write", "wal_sync"]


def psql(url, sql, check=True):
    r = subprocess.run(["psql", url, "-XqtA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr.strip()}")
    return r.stdout.strip() if r.returncode == 0 else None


def psql_json(url, sql):
    out = psql(url, f"SELECT row_to_json(t) FROM ({sql}) AS t")
    return json.loads(out) if out else {}


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def db_url(url, db):
    base, _, _ = url.rpartition("/")
    q = ""
    if "?" in url.rpartition("/")[2]:
        q = "?" + url.rpartition("/")[2].split("?", 1)[1]
    return f"{base}/{db}{q}"


def pg_settings(url):
    names = ["server_version", "fsync", "synchronous_commit", "full_page_writes",
             "wal_sync_method", "shared_buffers", "max_connections", "wal_level",
             "checkpoint_timeout", "max_wal_size", "autovacuum", "shared_preload_libraries"]
    s = {}
    for n in names:
        v = psql(url, f"SHOW {n}", check=False)
        if v is not None:
            s[n] = v
    s["pg_stat_statements"] = has_statements(url)
    return s


def has_statements(url):
    """pg_stat_statements is loaded and its view exists in the maintenance db."""
    libs = psql(url, "SHOW shared_preload_libraries", check=False) or ""
    if "pg_stat_statements" not in libs:
        return False
    return psql(url, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'",
                check=False) == "1"


def wal(url):
    return psql_json(url, "SELECT " + ", ".join(WAL_FIELDS) + " FROM pg_stat_wal")


# Seconds between the reads that must agree (scripts/bench --smoke: shorter).
SETTLE_S = float(os.environ.get("BENCH_SETTLE_S", "0.25"))


def settled_wal(url, tries=40):
    prev = wal(url)
    for _ in range(tries):
        time.sleep(SETTLE_S)
        cur = wal(url)
        if cur == prev:
            return cur
        prev = cur
    return prev


def wait_idle(url, db, timeout=60):
    """Waits until DB has no backend; returns the seconds waited."""
    t0 = time.time()
    while True:
        n = psql(url, f"SELECT count(*) FROM pg_stat_activity WHERE datname = {lit(db)}")
        if n == "0" or time.time() - t0 > timeout:
            return round(time.time() - t0, 2), int(n)
        time.sleep(0.1)


def db_counters(url, db):
    return psql_json(url, "SELECT xact_commit, xact_rollback FROM pg_stat_database "
                          f"WHERE datname = {lit(db)}")


def autovacuum_runs(url, db):
    out = psql(db_url(url, db), "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) "
                                "FROM pg_stat_all_tables", check=False)
    return int(out) if out else None


def pg_begin(url, db, checkpoint):
    snap = {"autovacuum": autovacuum_runs(url, db)}
    wait_idle(url, db)  # the connection just used has gone
    if checkpoint:
        psql(url, "CHECKPOINT")
    if has_statements(url):
        psql(url, "SELECT pg_stat_statements_reset()")
        snap["statements"] = True
    snap["wal"] = settled_wal(url)
    snap["db"] = db_counters(url, db)
    return snap


def statements(url, db, limit=40):
    rows = psql(url, f"""
        SELECT coalesce(json_agg(t), '[]') FROM (
          SELECT toplevel AS top, calls, rows, wal_bytes, wal_fpi,
                 left(regexp_replace(query, '\\s+', ' ', 'g'), 240) AS query
          FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = {lit(db)})
          ORDER BY calls DESC, query
          LIMIT {int(limit)}) AS t""")
    out = json.loads(rows) if rows else []
    for st in out:  # the per-run table names of scripts/bench, made comparable
        st["query"] = re.sub(r'"bench_[0-9]+_[0-9]+_[0-9]+', '"bench', st["query"])
    return out


def pg_end(url, db, before):
    waited, busy = wait_idle(url, db)
    after_wal = settled_wal(url)
    after_db = db_counters(url, db)
    out = {
        "commits": after_db.get("xact_commit", 0) - before["db"].get("xact_commit", 0),
        "rollbacks": after_db.get("xact_rollback", 0) - before["db"].get("xact_rollback", 0),
    }
    for f in WAL_FIELDS:
        key = "wal_syncs" if f == "wal_sync" else "wal_writes" if f == "wal_write" else f
        out[key] = after_wal[f] - before["wal"][f]
    out["wal_bytes"] = int(out["wal_bytes"])
    if before.get("statements"):
        out["statements"] = statements(url, db)
    # Last: this connects to DB (its own commit and statement are not counted).
    av = autovacuum_runs(url, db)
    if av is not None and before.get("autovacuum") is not None:
        out["autovacuum_runs"] = av - before["autovacuum"]
    out["settle_s"] = waited
    if busy:
        out["still_connected"] = busy  # counters of those backends may be missing
    return {"pg": out}


def redis_cli(url, *args):
    r = subprocess.run(["redis-cli", "-u", url, *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"redis-cli: {r.stderr.strip()}")
    return r.stdout


def commandstats(url):
    calls = {}
    for line in redis_cli(url, "INFO", "commandstats").splitlines():
        line = line.strip()
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(","))
            calls[name] = int(fields["calls"])
    return calls


def redis_settings(url):
    s = {}
    for line in redis_cli(url, "INFO", "server").splitlines():
        if line.startswith("redis_version:"):
            s["redis_version"] = line.split(":", 1)[1].strip()
    for name in ["appendonly", "appendfsync", "save", "maxmemory-policy"]:
        out = redis_cli(url, "CONFIG", "GET", name).splitlines()
        if len(out) >= 2:
            s[name] = out[1].strip()
    return s


def redis_begin(url):
    return {"calls": commandstats(url)}


def redis_end(url, before):
    after = commandstats(url)
    delta = {k: v - before["calls"].get(k, 0) for k, v in after.items()}
    delta["info"] = delta.get("info", 0) - 1  # redis-begin's own INFO
    delta = {k: v for k, v in delta.items() if v > 0}
    top = sorted(delta.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"redis": {"commands": sum(delta.values()), "by_command": dict(top[:10])}}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "pg-settings":
        out = pg_settings(argv[2])
    elif cmd == "redis-settings":
        out = redis_settings(argv[2])
    elif cmd == "pg-begin":
        out = pg_begin(argv[2], argv[3], "--checkpoint" in argv[4:])
    elif cmd == "pg-end":
        out = pg_end(argv[2], argv[3], json.loads(argv[4]))
    elif cmd == "redis-begin":
        out = redis_begin(argv[2])
    elif cmd == "redis-end":
        out = redis_end(argv[2], json.loads(argv[3]))
    elif cmd == "merge":
        out = json.loads(argv[2])
        for extra in argv[3:]:
            if extra:
                out.update(json.loads(extra))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
