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
    """{(system, backend): {...}} with the metrics of each workload."""
    table = {}
    for r in rows:
        key = (r["system"], r["backend"])
        e = table.setdefault(key, {"system": r["system"], "backend": r["backend"], "w1": {},
                                   "errors": [], "loads": [], "settings": {}})
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
    return sorted(table.values(), key=lambda e: (BACKENDS.index(e["backend"]) if e["backend"] in BACKENDS else 9,
                                                 order.get(e["system"], 99)))


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


def markdown(entries, meta):
    lines = []
    n = meta.get("jobs", "?")
    lines.append(f"# pop-queue benchmark ({meta.get('started_at', '?')[:10]})")
    lines.append("")
    lines.append(f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, "
                 f"{meta.get('memory_gib', '?')} GiB, {meta.get('kernel', '?')}. "
                 f"Load average at start {meta.get('load_start', '?')}, at end {meta.get('load_end', '?')}.")
    lines.append(f"Servers: PostgreSQL {meta.get('postgres') or '-'} (test settings: fsync off), "
                 f"Redis {meta.get('redis') or '-'}; Node {meta.get('node') or '-'}, "
                 f"Go {meta.get('go') or '-'}.")
    lines.append(f"N = {n} no-op jobs; W2/W3 with {meta.get('concurrency', '?')} slots; "
                 f"W3 over {meta.get('duration', '?')} s at depth >= {meta.get('depth', 4000)}; "
                 f"W4 {meta.get('samples', '?')} samples at concurrency 1.")
    if meta.get("smoke"):
        lines.append("**Smoke run: tiny N, numbers mean nothing.**")
    lines.append("")
    lines.append("Throughput in jobs/s (higher is better), latency in ms (lower is better); "
                 "load = 1-minute load average when the system's runs started (min-max).")
    lines.append("")
    lines.append("| backend | system | version | W1 b=1 | W1 b=100 | W1 b=1000 | W2 burn-down | "
                 "W3 steady | W4 min | p50 | p95 | p99 | max | load |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
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
        for err in e["errors"]:
            notes.append(f"- {e['system']}/{e['backend']} failed {err}")
    lines.append("")
    lines.append("pop-queue / best peer on the same backend (throughput: >1 means pop-queue is "
                 "faster; W4 p50: <1 means pop-queue is faster):")
    lines.append("")
    lines.append("| backend | W1 b=1000 | W2 | W3 | W4 p50 |")
    lines.append("|---|---|---|---|---|")
    for b, cells in ratios(entries):
        if cells is None:
            lines.append(f"| {b} | no peer on this backend | | | |")
        else:
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines.append("Failures:")
        lines.extend(notes)
    lines.append("")
    lines.append("Settings (throughput runs / latency run):")
    lines.append("")
    for e in entries:
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
    (out / "results.svg").write_text(svg(entries, meta))
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
