#!/usr/bin/env python3
"""Turns a scripts/bench run (DIR/results.jsonl + DIR/meta.json) into
DIR/results.md (tables) and DIR/results.svg (chart). Standard library only;
the SVG is written as plain text.

    python3 bench/report.py bench/results
"""
import html
import json
import math
import sys
from pathlib import Path

BACKENDS = ["sqlite", "postgres", "redis", "mongodb"]
SYSTEM_ORDER = ["pop-queue", "River", "graphile-worker", "pg-boss", "BullMQ", "Asynq"]


def load(out):
    rows = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return rows, meta


def collect(rows):
    """{(system, backend, server): {...}} with the metrics of each workload.
    server is "fast" for the runs on the --fast-postgres server, else "main"."""
    table = {}
    for r in rows:
        server = r.get("pg_server", "main") if r["backend"] == "postgres" else "main"
        key = (r["system"], r["backend"], server)
        e = table.setdefault(key, {"system": r["system"], "backend": r["backend"], "server": server,
                                   "w1": {}, "errors": [], "loads": [], "settings": {},
                                   "cost": {}})
        if "skipped" in r:
            e["skipped"] = r["skipped"]
            continue
        if not r.get("ok", True) and "error" in r:
            e["errors"].append(f'{r.get("workload")}: {r["error"]}')
            continue
        e["version"] = r.get("version", "")
        if r.get("load"):
            e["loads"].append(r["load"][0])
        w = r["workload"]
        e["settings"][w] = r.get("settings", "")
        cost = run_cost(r)
        if cost:
            e["cost"][f"w1 b={r['batch']}" if w == "w1" else w] = cost
        if w == "w1":
            e["w1"][r["batch"]] = r["jobs_per_s"]
        elif w == "w2":
            e["w2"] = r["jobs_per_s"]
            if not r.get("ok", True):
                e["errors"].append(f'w2: exactly once {r.get("exactly_once")}/{r.get("jobs")}')
        elif w == "w3":
            e["w3"] = r["jobs_per_s"]
            e["w3_min_depth"] = r.get("min_depth")
        elif w == "w4":
            e["w4"] = r["latency_ms"]
    order = {s: i for i, s in enumerate(SYSTEM_ORDER)}
    return sorted(table.values(), key=lambda e: (e["server"] == "fast",
                                                 BACKENDS.index(e["backend"]) if e["backend"] in BACKENDS else 9,
                                                 order.get(e["system"], 99)))


def run_cost(r):
    """What one run cost its server, per job processed (W1, W2: N; W3: the
    jobs started in the window; W4: none, its samples wait on each other).
    PostgreSQL commits exclude the harness's own store queries ("polls": one
    read-only transaction each)."""
    w = r.get("workload")
    n = r.get("completed") if w == "w3" else r.get("jobs") if w in ("w1", "w2") else None
    if not n:
        return None
    out = {"jobs": n, "jobs_per_s": r.get("jobs_per_s")}
    pg = r.get("pg")
    if pg:
        k = 1000 / n
        out.update({
            "commits": (pg["commits"] - r.get("polls", 0)) * k,
            "wal_syncs": pg["wal_syncs"] * k,
            "wal_kb": pg["wal_bytes"] / 1024 * k,
            "wal_fpi": pg.get("wal_fpi", 0) * k,
            "autovacuum": pg.get("autovacuum_runs"),
            "statements": [dict(s, per_1000=s["calls"] * k) for s in pg.get("statements", [])],
        })
    rd = r.get("redis")
    if rd:
        out.update({
            "commands": rd["commands"] / n,
            "by_command": {c: v / n for c, v in rd.get("by_command", {}).items()},
            "keys_left": r.get("redis_keys_left"),
            "polls": r.get("polls", 0),
        })
    return out if (pg or rd) else None


def rate(v):
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def ms(v):
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def ratios(entries):
    """Per backend: pop-queue vs the best peer on each metric."""
    out = []
    for b in BACKENDS:
        pq = next((e for e in entries if e["backend"] == b and e["system"] == "pop-queue"
                   and "skipped" not in e), None)
        peers = [e for e in entries if e["backend"] == b and e["system"] != "pop-queue"
                 and "skipped" not in e]
        if pq is None:
            continue
        if not peers:
            out.append((b, None))
            continue
        cells = []
        for label, get, higher in [
            ("W1 b=1000", lambda e: e["w1"].get(1000), True),
            ("W2", lambda e: e.get("w2"), True),
            ("W3", lambda e: e.get("w3"), True),
            ("W4 p50", lambda e: (e.get("w4") or {}).get("p50"), False),
        ]:
            vals = [(get(e), e["system"]) for e in peers if get(e) is not None]
            mine = get(pq)
            if not vals or mine is None:
                cells.append("-")
                continue
            best, who = (max if higher else min)(vals)
            cells.append(f"{mine / best:.2f}x ({who})")
        out.append((b, cells))
    return out


def pg_desc(st, own=""):
    """A PostgreSQL server's settings as read from it (meta.json)."""
    if not st:
        return "-"
    keys = ["fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
            "shared_buffers", "max_connections"]
    parts = [f"{k} {st[k]}" for k in keys if k in st]
    if st.get("pg_stat_statements"):
        parts.append("pg_stat_statements")
    where = {"own": "a server of its own", "external": "an external server"}.get(own, "")
    return (f"PostgreSQL {st.get('server_version', '?').split(' ')[0]} "
            f"({', '.join(([where] if where else []) + parts)})")


def redis_desc(st, own=""):
    if not st:
        return "Redis -"
    where = {"own": "a server of its own", "external": "an external server"}.get(own, "")
    parts = [f"{k} {st[k]}" for k in ["appendonly", "appendfsync"] if k in st]
    return f"Redis {st.get('redis_version', '?')} ({', '.join(([where] if where else []) + parts)})"


def throughput_table(entries):
    lines = ["| backend | system | version | W1 b=1 | W1 b=100 | W1 b=1000 | W2 burn-down | "
             "W3 steady | W4 min | p50 | p95 | p99 | max | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        if "skipped" in e:
            lines.append(f"| {e['backend']} | {e['system']} | | {e['skipped']} | | | | | | | | | | |")
            continue
        w4 = e.get("w4") or {}
        load = "-"
        if e["loads"]:
            load = f"{min(e['loads']):.1f}-{max(e['loads']):.1f}"
        lines.append("| " + " | ".join([
            e["backend"], e["system"], e.get("version", ""),
            rate(e["w1"].get(1)), rate(e["w1"].get(100)), rate(e["w1"].get(1000)),
            rate(e.get("w2")), rate(e.get("w3")),
            ms(w4.get("min")), ms(w4.get("p50")), ms(w4.get("p95")), ms(w4.get("p99")),
            ms(w4.get("max")), load]) + " |")
    return lines


def ratio_table(entries):
    lines = ["pop-queue / best peer on the same backend (throughput: >1 means pop-queue is "
             "faster; W4 p50: <1 means pop-queue is faster):", "",
             "| backend | W1 b=1000 | W2 | W3 | W4 p50 |", "|---|---|---|---|---|"]
    for b, cells in ratios(entries):
        if cells is None:
            lines.append(f"| {b} | no peer on this backend | | | |")
        else:
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return lines


def workloads_of(e):
    def order(w):
        return (0, int(w.split("=")[1])) if w.startswith("w1") else (1, w)
    return sorted(e["cost"], key=order)


def num(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def pg_cost_table(entries, smoke=False):
    rows = [e for e in entries if e["backend"] == "postgres" and "skipped" not in e
            and any("commits" in c for c in e["cost"].values())]
    if not rows:
        return []
    schema = ("the smoke run counts creating the schema too" if smoke else
              "the schema is created before the counters start")
    lines = ["Server cost per 1000 jobs on PostgreSQL (bench/counters.py: deltas of "
             "pg_stat_database.xact_commit of the run's own database, without the harness's "
             "own polling queries, and of server-wide pg_stat_wal; "
             f"{schema}; W3 per job started in the window). They count work, not time: "
             "machine load moves them far less than throughput, though batch sizes, and "
             "so commits per job, still depend on timing:", "",
             "| system | workload | jobs/s | commits | WAL syncs | WAL kB | full-page images | autovacuum runs |",
             "|---|---|---|---|---|---|---|---|"]
    for e in rows:
        for w in workloads_of(e):
            c = e["cost"][w]
            if "commits" not in c:
                continue
            lines.append(f"| {e['system']} | {w.upper() if w in ('w2', 'w3') else w.replace('w1', 'W1')} | "
                         f"{rate(c['jobs_per_s'])} | {num(c['commits'])} | {num(c['wal_syncs'])} | "
                         f"{num(c['wal_kb'])} | {num(c['wal_fpi'])} | "
                         f"{'-' if c.get('autovacuum') is None else c['autovacuum']} |")
    return lines


def redis_cost_table(entries):
    rows = [e for e in entries if e["backend"] == "redis" and "skipped" not in e
            and any("commands" in c for c in e["cost"].values())]
    if not rows:
        return []
    lines = ["Redis commands per job (INFO commandstats deltas; commands that Lua scripts "
             "call count too; W2 of the peers includes their harness's drain polls). "
             "Keys left: what the run left in Redis, deleted by scripts/bench afterwards:", "",
             "| system | workload | jobs/s | commands/job | top commands per job | keys left |",
             "|---|---|---|---|---|---|"]
    for e in rows:
        for w in workloads_of(e):
            c = e["cost"][w]
            if "commands" not in c:
                continue
            top = ", ".join(f"{k} {v:.2f}" if v >= 0.1 else f"{k} {v:.3f}"
                            for k, v in list(c["by_command"].items())[:5])
            lines.append(f"| {e['system']} | {w.upper() if w in ('w2', 'w3') else w.replace('w1', 'W1')} | "
                         f"{rate(c['jobs_per_s'])} | {c['commands']:.2f} | {top} | "
                         f"{'-' if c.get('keys_left') is None else c['keys_left']} |")
    return lines


def statement_tables(entries, workload="w2", top=8):
    rows = [e for e in entries if e["backend"] == "postgres" and "skipped" not in e
            and e["cost"].get(workload, {}).get("statements")]
    if not rows:
        return []
    lines = [f"Statements of {workload.upper()} per 1000 jobs (pg_stat_statements of the run's "
             "database, track = all: nested ones, such as trigger bodies, are marked; "
             "BEGIN/COMMIT show explicit transactions):", ""]
    for e in rows:
        c = e["cost"][workload]
        lines.append(f"{e['system']} ({num(c['commits'])} commits, {num(c['wal_syncs'])} WAL syncs "
                     "per 1000 jobs):")
        lines.append("")
        lines.append("| calls / 1000 jobs | rows / call | WAL bytes / call | level | statement |")
        lines.append("|---|---|---|---|---|")
        for st in c["statements"][:top]:
            q = st["query"].replace("|", "\\|")
            q = q if len(q) <= 110 else q[:107] + "..."
            calls = st["calls"] or 1
            lines.append(f"| {num(st['per_1000'])} | {num(st['rows'] / calls)} | "
                         f"{num(float(st.get('wal_bytes') or 0) / calls, 0)} | "
                         f"{'top' if st.get('top', True) else 'nested'} | `{q}` |")
        lines.append("")
    return lines


def markdown(entries, meta):
    lines = []
    n = meta.get("jobs", "?")
    main = [e for e in entries if e["server"] != "fast"]
    fast = [e for e in entries if e["server"] == "fast"]
    lines.append(f"# pop-queue benchmark ({meta.get('started_at', '?')[:10]})")
    lines.append("")
    lines.append(f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, "
                 f"{meta.get('memory_gib', '?')} GiB, {meta.get('kernel', '?')}. "
                 f"Load average at start {meta.get('load_start', '?')}, at end {meta.get('load_end', '?')}.")
    pg = meta.get("postgres_settings")
    pg_text = pg_desc(pg, meta.get("postgres_server", "")) if pg else \
        f"PostgreSQL {meta.get('postgres') or '-'} (settings not recorded)"
    lines.append(f"Servers: {pg_text}; "
                 f"{redis_desc(meta.get('redis_settings'), meta.get('redis_server', ''))}; "
                 f"Node {meta.get('node') or '-'}, Go {meta.get('go') or '-'}.")
    lines.append(f"N = {n} no-op jobs; W2/W3 with {meta.get('concurrency', '?')} slots; "
                 f"W3 over {meta.get('duration', '?')} s at depth >= {meta.get('depth', 4000)}; "
                 f"W4 {meta.get('samples', '?')} samples at concurrency 1.")
    if meta.get("smoke"):
        lines.append("**Smoke run: tiny N, numbers mean nothing.**")
    lines.append("")
    lines.append("Throughput in jobs/s (higher is better), latency in ms (lower is better); "
                 "load = 1-minute load average when the system's runs started (min-max).")
    lines.append("")
    lines += throughput_table(main)
    lines.append("")
    lines += ratio_table(main)
    for part in (pg_cost_table(main, meta.get("smoke")), redis_cost_table(main),
                 statement_tables(main)):
        if part:
            lines.append("")
            lines += part
    if fast:
        lines.append("")
        lines.append("## PostgreSQL without durability (--fast-postgres)")
        lines.append("")
        lines.append(f"Not what users run: {pg_desc(meta.get('postgres_fast_settings'), 'own')}. "
                     "Same systems, same run, after the durable ones.")
        lines.append("")
        lines += throughput_table(fast)
        lines.append("")
        lines += ratio_table(fast)
        part = pg_cost_table(fast, meta.get("smoke"))
        if part:
            lines.append("")
            lines += part
    notes = [f"- {e['system']}/{e['backend']}{' (fast)' if e['server'] == 'fast' else ''} failed {err}"
             for e in entries for err in e["errors"]]
    if notes:
        lines.append("")
        lines.append("Failures:")
        lines.extend(notes)
    lines.append("")
    lines.append("Settings (throughput runs / latency run):")
    lines.append("")
    for e in main:
        if "skipped" in e or not e["settings"]:
            continue
        s = e["settings"]
        lines.append(f"- {e['system']} on {e['backend']}: {s.get('w2') or s.get('w1', '')}"
                     f" / {s.get('w4', '-')}")
    lines.append("")
    return "\n".join(lines)


COLORS = {"w1": "#4e79a7", "w2": "#f28e2b", "w3": "#59a14f", "p50": "#e15759", "p99": "#76b7b2"}


def svg(entries, meta):
    rows = [e for e in entries if "skipped" not in e]
    bar_h, gap, top, left = 9, 10, 70, 250
    row_h = 3 * bar_h + gap
    panel_w = 330
    width = left + panel_w + 60 + panel_w + 40
    height = top + len(rows) * row_h + 50
    max_rate = max([v for e in rows for v in (e["w1"].get(1000), e.get("w2"), e.get("w3")) if v] or [1])
    lat = [v for e in rows for v in ((e.get("w4") or {}).get("p50"), (e.get("w4") or {}).get("p99")) if v]
    lo = 10 ** math.floor(math.log10(min(lat))) if lat else 0.1
    hi = 10 ** math.ceil(math.log10(max(lat))) if lat else 1000
    if hi <= lo:
        hi = lo * 10
    x2 = left + panel_w + 60

    def lx(v):
        return x2 + panel_w * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="10" y="18" font-size="14" font-weight="bold">pop-queue and peers, '
         f'{html.escape(str(meta.get("jobs", "?")))} no-op jobs, '
         f'{html.escape(meta.get("started_at", "")[:10])} (load {html.escape(meta.get("load_start", "?"))})</text>',
         f'<text x="{left}" y="40" font-weight="bold">throughput, jobs/s (linear)</text>',
         f'<text x="{x2}" y="40" font-weight="bold">W4 latency, ms (log scale)</text>']
    legend = [("W1 enqueue b=1000", "w1"), ("W2 burn-down", "w2"), ("W3 steady", "w3"),
              ("p50", "p50"), ("p99", "p99")]
    lxp = left
    for label, key in legend:
        o.append(f'<rect x="{lxp}" y="48" width="10" height="10" fill="{COLORS[key]}"/>')
        o.append(f'<text x="{lxp + 14}" y="57">{label}</text>')
        lxp += 14 + 7 * len(label) + 16
    # axes ticks
    for k in range(5):
        v = max_rate * k / 4
        x = left + panel_w * k / 4
        o.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + len(rows) * row_h}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{top + len(rows) * row_h + 14}" text-anchor="middle">{rate(v)}</text>')
    d = lo
    while d <= hi * 1.0001:
        x = lx(d)
        o.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + len(rows) * row_h}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{top + len(rows) * row_h + 14}" text-anchor="middle">{d:g}</text>')
        d *= 10
    prev_backend = None
    for i, e in enumerate(rows):
        y = top + i * row_h
        if e["backend"] != prev_backend and i:
            o.append(f'<line x1="10" y1="{y - gap / 2:.1f}" x2="{width - 10}" y2="{y - gap / 2:.1f}" stroke="#999"/>')
        prev_backend = e["backend"]
        label = html.escape(f'{e["system"]} {e.get("version", "")} / {e["backend"]}')
        o.append(f'<text x="{left - 6}" y="{y + 1.5 * bar_h + 4}" text-anchor="end">{label}</text>')
        for j, (key, v) in enumerate([("w1", e["w1"].get(1000)), ("w2", e.get("w2")), ("w3", e.get("w3"))]):
            if not v:
                continue
            w = panel_w * v / max_rate
            o.append(f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 1}" fill="{COLORS[key]}">'
                     f'<title>{key}: {v:.0f} jobs/s</title></rect>')
            o.append(f'<text x="{left + w + 3:.1f}" y="{y + j * bar_h + bar_h - 1}" font-size="9">{rate(v)}</text>')
        w4 = e.get("w4") or {}
        for j, key in enumerate(["p50", "p99"]):
            v = w4.get(key)
            if not v:
                continue
            w = lx(v) - x2
            o.append(f'<rect x="{x2}" y="{y + j * bar_h + bar_h / 2:.1f}" width="{max(w, 1):.1f}" height="{bar_h - 1}" '
                     f'fill="{COLORS[key]}"><title>{key}: {v:.2f} ms</title></rect>')
            o.append(f'<text x="{x2 + w + 3:.1f}" y="{y + j * bar_h + 1.5 * bar_h - 1:.1f}" font-size="9">{ms(v)}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
    rows, meta = load(out)
    entries = collect(rows)
    (out / "results.md").write_text(markdown(entries, meta))
    (out / "results.svg").write_text(svg([e for e in entries if e["server"] != "fast"], meta))
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
