#!/usr/bin/env python3
"""The driver of bench/scaling.sh: one step of the scaling curve, and the
report. Standard library only; runs inside the server's network namespace
(so it reaches the servers on the bridge) and starts every worker in a host
namespace of its own through `ip netns exec`.

    scaling.py step --backend B --url URL --hosts "NS1 NS2 ..." --jobs N
                    --concurrency C --bin popqueue_scaling --work DIR
                    [--pg-data DIR] [--timeout S]
        Prints one JSON object: the step's figures (below). Exit 0 when the
        step passed, 1 when it failed (the object says why in "errors").
    scaling.py report FILE.json
        Prints the markdown table of a run and writes FILE.svg beside it
        (jobs/s against worker processes, one line per backend).

A step, on fresh state (PostgreSQL: a new database; Redis: FLUSHALL and an
AOF rewrite first, so every step starts from a small AOF):
  1. popqueue_scaling enqueue puts N no-op jobs in (from the first host);
  2. one `popqueue_scaling work` per host opens its queue and says "ready";
  3. when all are ready, their stdin is closed (the start barrier), and the
     CPU counters are read: the server processes (/proc/PID/stat: the
     postmaster with its children, what exited included via cutime/cstime;
     redis-server, and its main thread alone from /proc/PID/task/PID/stat),
     the workers, the machine (/proc/stat), and for Redis INFO commandstats;
  4. the workers print their completions every 25 ms; when they add up to N,
     the counters are read again and the workers get SIGTERM;
  5. each worker reports its first handler start, its last completion (wall
     clock, shared by the hosts of one machine) and writes the payload index
     of every handler start; the step's time is the first start anywhere to
     the last completion anywhere.

The step fails when a worker fails, the jobs do not finish within the
timeout, a job ran twice or never (from the index files), the store does
not hold exactly N completed jobs afterwards, or a process's
share of the jobs (completed / (N / processes)) is outside [0.5, 2].
"""
import argparse
import html
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import counters  # noqa: E402  (bench/counters.py: pg_begin/pg_end, settings)

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(path):
    """(utime, stime, cutime, cstime, ppid) in seconds from a /proc stat file."""
    with open(path) as f:
        rest = f.read().rpartition(")")[2].split()
    # rest[0] is the state (field 3); utime is field 14, ppid field 4.
    return (int(rest[11]) / TICK, int(rest[12]) / TICK, int(rest[13]) / TICK,
            int(rest[14]) / TICK, int(rest[1]))


def process_cpu(pid):
    """CPU seconds of a process (all threads), its reaped children included."""
    u, s, cu, cs, _ = proc_stat(f"/proc/{pid}/stat")
    return u + s + cu + cs


def thread_cpu(pid, tid):
    u, s, _, _, _ = proc_stat(f"/proc/{pid}/task/{tid}/stat")
    return u + s


def tree_cpu(root):
    """CPU seconds of a process and its live children (what exited is in the
    parent's cutime/cstime once reaped): the postmaster and its backends."""
    total = process_cpu(root)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            u, s, cu, cs, ppid = proc_stat(f"/proc/{d}/stat")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == root:
            total += u + s + cu + cs
    return total


def machine_cpu():
    """(busy, total) CPU seconds of the machine, all cores (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    total = sum(v[:8])
    return (total - idle) / TICK, total / TICK


def redis_cli(url, *args):
    return counters.redis_cli(url, *args)


def redis_info(url, section):
    out = {}
    for line in redis_cli(url, "INFO", section).splitlines():
        k, sep, v = line.strip().partition(":")
        if sep:
            out[k] = v
    return out


def commandstats(url):
    """{command: (calls, usec)} from INFO commandstats."""
    stats = {}
    for k, v in redis_info(url, "commandstats").items():
        if k.startswith("cmdstat_"):
            f = dict(kv.split("=", 1) for kv in v.split(","))
            stats[k[len("cmdstat_"):]] = (int(f["calls"]), int(f["usec"]))
    return stats


def redis_fresh(url):
    """Empties our own Redis and rewrites its AOF, so every step starts alike."""
    redis_cli(url, "FLUSHALL")
    redis_cli(url, "BGREWRITEAOF")
    for _ in range(600):
        p = redis_info(url, "persistence")
        if p.get("aof_rewrite_in_progress") == "0" and p.get("aof_rewrite_scheduled") == "0":
            return
        time.sleep(0.1)
    raise RuntimeError("redis: the AOF rewrite did not finish in 60 s")


def with_db(url, db):
    return counters.db_url(url, db)


class Worker:
    def __init__(self, ns, argv, err_path):
        self.ns = ns
        self.err = open(err_path, "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""
        self.ready = False
        self.progress = 0
        self.result = None
        self.eof = False

    def feed(self, data):
        if not data:
            self.eof = True
            return
        self.buf += data
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            line = line.decode(errors="replace").strip()
            if line == "ready":
                self.ready = True
            elif line.startswith("progress "):
                self.progress = int(line.split()[1])
            elif line.startswith("{"):
                self.result = json.loads(line)


def pump(workers, until, timeout, eof_fails=True):
    """Reads the workers' output until until() holds; False on timeout, or
    (eof_fails) as soon as a worker's output ends first."""
    sel = selectors.DefaultSelector()
    for w in workers:
        if not w.eof:
            sel.register(w.p.stdout, selectors.EVENT_READ, w)
    deadline = time.time() + timeout
    try:
        while not until():
            left = deadline - time.time()
            if left <= 0:
                return False
            for key, _ in sel.select(min(left, 0.5)):
                w = key.data
                w.feed(os.read(w.p.stdout.fileno(), 65536))
                if w.eof:
                    sel.unregister(w.p.stdout)
                    if eof_fails and not until():
                        return False
        return True
    finally:
        sel.close()


def step(a):
    n, hosts = a.jobs, a.hosts.split()
    procs = len(hosts)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    errors = []
    out = {"backend": a.backend, "processes": procs, "jobs": n, "concurrency": a.concurrency,
           "load_start": os.getloadavg()}
    url, admin, db = a.url, a.url, None
    if a.backend == "postgres":
        db = f"scale_{procs}_{os.getpid()}"
        counters.psql(admin, f'CREATE DATABASE "{db}"')
        url = with_db(admin, db)
        server_pid = int(Path(a.pg_data, "postmaster.pid").read_text().split()[0])
    else:
        redis_fresh(url)
        server_pid = int(redis_info(url, "server")["process_id"])
    enq = subprocess.run(["ip", "netns", "exec", hosts[0], a.bin, "enqueue", url, "scale", str(n)],
                         capture_output=True, text=True, timeout=a.timeout)
    if enq.returncode != 0:
        raise RuntimeError(f"enqueue failed: {enq.stderr.strip()}")
    out["enqueue_s"] = float(enq.stdout.strip())
    pg_snap = counters.pg_begin(admin, db, True) if db else None
    workers = [Worker(ns, [a.bin, "work", url, "scale", str(n), str(a.concurrency),
                           str(work / f"ids.{i}")], work / f"w{i}.log")
               for i, ns in enumerate(hosts)]
    try:
        if not pump(workers, lambda: all(w.ready for w in workers), 120):
            raise RuntimeError("not every worker became ready")
        cpu0 = server_cpu(a.backend, server_pid)
        wcpu0 = [process_cpu(w.p.pid) for w in workers]
        m0 = machine_cpu()
        cs0 = commandstats(url) if a.backend == "redis" else None
        t_go = time.time()
        for w in workers:
            w.p.stdin.close()
        finished = pump(workers, lambda: sum(w.progress for w in workers) >= n, a.timeout)
        cpu1 = server_cpu(a.backend, server_pid)
        wcpu1 = [process_cpu(w.p.pid) if w.p.poll() is None else None for w in workers]
        m1 = machine_cpu()
        cs1 = commandstats(url) if a.backend == "redis" else None
        wall = time.time() - t_go
        if not finished:
            errors.append(f"only {sum(w.progress for w in workers)} of {n} jobs completed "
                          f"within {a.timeout} s, or a worker ended early")
        for w in workers:
            if w.p.poll() is None:
                w.p.send_signal(signal.SIGTERM)
        pump(workers, lambda: all(w.eof for w in workers), 60, eof_fails=False)
    finally:
        for w in workers:
            if w.p.poll() is None:
                w.p.kill()
            w.p.wait()
            w.err.close()
    for i, w in enumerate(workers):
        if w.p.returncode != 0 or w.result is None:
            tail = Path(work / f"w{i}.log").read_text()[-400:].strip()
            errors.append(f"worker {i + 1} ({w.ns}) exited {w.p.returncode}: {tail}")
    results = [w.result or {} for w in workers]
    mean = n / procs
    out["per_process"] = [{
        "host": w.ns, "pid": r.get("pid"), "completed": r.get("completed", 0),
        "started": r.get("started", 0), "share": round(r.get("completed", 0) / mean, 3),
        "cpu_s": round(wcpu1[i] - wcpu0[i], 2) if wcpu1[i] is not None else None,
    } for i, (w, r) in enumerate(zip(workers, results))]
    for p in out["per_process"]:
        if not 0.5 <= p["share"] <= 2:
            errors.append(f'{p["host"]}: share {p["share"]:.2f} of the mean is outside 2x')
    starts = [r["first_start_us"] for r in results if r.get("first_start_us")]
    ends = [r["last_completed_us"] for r in results if r.get("last_completed_us")]
    if starts and ends:
        out["seconds"] = round((max(ends) - min(starts)) / 1e6, 4)
        out["jobs_per_s"] = round(n / out["seconds"], 1) if out["seconds"] > 0 else None
    # Exactly once: every index 0..N-1 started once, over all processes.
    runs = [0] * n
    for i in range(procs):
        p = work / f"ids.{i}"
        if p.exists():
            for line in p.read_text().split():
                runs[int(line)] += 1
    twice = sum(1 for r in runs if r > 1)
    never = sum(1 for r in runs if r == 0)
    out["exactly_once"] = n - twice - never
    if twice or never:
        errors.append(f"{twice} jobs ran more than once, {never} never")
    if sum(r.get("bad", 0) for r in results):
        errors.append("a handler saw a payload that is no index of this run")
    busy = m1[0] - m0[0]
    out["window_s"] = round(wall, 3)
    out["machine"] = {"cores": os.cpu_count(), "busy_cores": round(busy / wall, 2) if wall else None}
    srv = {k: cpu1[k] - cpu0[k] for k in cpu0}
    out["server_cpu"] = {
        "cpu_s": round(srv["total"], 2),
        "us_per_job": round(srv["total"] / n * 1e6, 1),
        "cores": round(srv["total"] / wall, 2) if wall else None,
    }
    out["workers_cpu"] = {
        "cpu_s": round(sum(p["cpu_s"] or 0 for p in out["per_process"]), 2),
        "us_per_job": round(sum(p["cpu_s"] or 0 for p in out["per_process"]) / n * 1e6, 1),
    }
    if a.backend == "redis":
        main = srv["main_thread"]
        out["server_cpu"]["main_thread_cpu_s"] = round(main, 2)
        out["server_cpu"]["main_thread_busy"] = round(main / wall, 3) if wall else None
        delta = {k: (v[0] - cs0.get(k, (0, 0))[0], v[1] - cs0.get(k, (0, 0))[1])
                 for k, v in cs1.items()}
        c, u = delta.get("info", (0, 0))
        delta["info"] = (c - 1, u)  # the first INFO commandstats itself
        delta = {k: v for k, v in delta.items() if v[0] > 0}
        # Wall time inside scripts (INFO's usec), preemption of the main
        # thread on a busy machine included: a share of the run, not of CPU.
        script_us = sum(v[1] for k, v in delta.items() if k in ("eval", "evalsha", "fcall"))
        out["redis"] = {
            "commands": sum(v[0] for v in delta.values()),
            "commands_per_job": round(sum(v[0] for v in delta.values()) / n, 2),
            "scripts_busy": round(script_us / 1e6 / wall, 3) if wall else None,
            "scripts_us_per_job": round(script_us / n, 1),
            "by_command": dict(sorted(((k, v[0]) for k, v in delta.items()),
                                      key=lambda kv: -kv[1])[:8]),
        }
    if pg_snap is not None:
        pg = counters.pg_end(admin, db, pg_snap)["pg"]
        out["postgres"] = {"commits_per_job": round(pg["commits"] / n, 3),
                           "wal_syncs_per_job": round(pg["wal_syncs"] / n, 4),
                           "wal_bytes_per_job": round(pg["wal_bytes"] / n, 1)}
    # After pg_end: the count's own transaction is not in the step's commits.
    # The store's own record: N completed, nothing else.
    cnt = subprocess.run(["ip", "netns", "exec", hosts[0], a.bin, "count", url, "scale"],
                         capture_output=True, text=True, timeout=120)
    if cnt.returncode != 0:
        errors.append(f"count failed: {cnt.stderr.strip()}")
    else:
        done, other = (int(x) for x in cnt.stdout.split())
        out["store_completed"] = done
        if done != n or other:
            errors.append(f"the store holds {done} completed jobs of {n} and {other} in other states")
    if db:
        counters.psql(admin, f'DROP DATABASE "{db}"')
    out["load_end"] = os.getloadavg()
    out["ok"] = not errors
    if errors:
        out["errors"] = errors
    return out


def server_cpu(backend, pid):
    if backend == "postgres":
        return {"total": tree_cpu(pid)}
    return {"total": process_cpu(pid), "main_thread": thread_cpu(pid, pid)}


# --- report ------------------------------------------------------------------

def rate(v):
    return "-" if v is None else f"{v / 1000:.1f}k"


def markdown(run):
    o = [f'{run["jobs"]} no-op jobs, {run["concurrency"]} slots per process, '
         f'{run["host"]["cores"]} cores ({run["host"].get("cpu", "?")}), '
         f'load at start {run["load_start"][0]:.2f} / end {run["load_end"][0]:.2f}, '
         f'{run["started_at"]}', "",
         "| store | processes | jobs/s | shares (min-max of mean) | server CPU per job | "
         "server cores busy | workers' CPU per job | machine cores busy | Redis main thread | "
         "in scripts (wall) | commands per job | commits per job |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in run["steps"]:
        if "server_cpu" not in s:  # failed before it measured anything
            o.append(f'| {s["backend"]} | {s["processes"]} | failed: '
                     f'{"; ".join(s.get("errors", []))[:200]} |' + " |" * 9)
            continue
        shares = [p["share"] for p in s["per_process"]]
        sc, wc, r, pg = s["server_cpu"], s["workers_cpu"], s.get("redis", {}), s.get("postgres", {})
        busy = sc.get("main_thread_busy")
        o.append("| " + " | ".join([
            s["backend"], str(s["processes"]),
            rate(s.get("jobs_per_s")) + ("" if s["ok"] else " (failed)"),
            f"{min(shares) * 100:.0f}-{max(shares) * 100:.0f} %",
            f'{sc["us_per_job"]:.0f} us', f'{sc["cores"]:.2f}', f'{wc["us_per_job"]:.0f} us',
            f'{s["machine"]["busy_cores"]:.2f}',
            f"{busy * 100:.0f} %" if busy is not None else "-",
            f'{r["scripts_busy"] * 100:.0f} %' if r.get("scripts_busy") else "-",
            f'{r["commands_per_job"]:.2f}' if r else "-",
            f'{pg["commits_per_job"]:.3f}' if pg else "-",
        ]) + " |")
    return "\n".join(o) + "\n"


COLORS = {"postgres": "#336791", "redis": "#d82c20"}


def svg(run):
    steps = [s for s in run["steps"] if s.get("jobs_per_s")]
    procs = sorted({s["processes"] for s in steps}) or [1]
    top = max([s["jobs_per_s"] for s in steps] or [1])
    ymax = 10000 * (int(top // 10000) + 1)
    w, h, left, bottom, plot_w, plot_h = 560, 340, 70, 290, 440, 230

    def x(p):
        i = procs.index(p)
        return left + (plot_w * i / (len(procs) - 1) if len(procs) > 1 else plot_w / 2)

    def y(v):
        return bottom - plot_h * v / ymax

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="10" y="18" font-size="13" font-weight="bold">Burn-down of {run["jobs"]} no-op jobs, '
         f'one worker process per host ({html.escape(run["started_at"][:10])}, '
         f'{run["host"]["cores"]} cores, load {run["load_start"][0]:.2f})</text>']
    for k in range(0, 6):
        v = ymax * k / 5
        o.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{rate(v)}</text>')
    for p in procs:
        o.append(f'<text x="{x(p):.1f}" y="{bottom + 16}" text-anchor="middle">{p}</text>')
    o.append(f'<text x="{left + plot_w / 2}" y="{bottom + 34}" text-anchor="middle">worker processes (hosts)</text>')
    o.append(f'<text x="14" y="{bottom - plot_h / 2}" transform="rotate(-90 14 {bottom - plot_h / 2})" '
             f'text-anchor="middle">jobs/s</text>')
    for i, backend in enumerate(sorted({s["backend"] for s in steps})):
        pts = sorted((s["processes"], s["jobs_per_s"]) for s in steps if s["backend"] == backend)
        color = COLORS.get(backend, "#555")
        o.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                 + " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in pts) + '"/>')
        for p, v in pts:
            o.append(f'<circle cx="{x(p):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                     f'<title>{backend}, {p} processes: {v:.0f} jobs/s</title></circle>')
            o.append(f'<text x="{x(p):.1f}" y="{y(v) - 7:.1f}" text-anchor="middle" font-size="9">{rate(v)}</text>')
        o.append(f'<rect x="{left + 10 + 120 * i}" y="30" width="10" height="10" fill="{color}"/>')
        o.append(f'<text x="{left + 24 + 120 * i}" y="39">{backend}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv):
    if len(argv) > 1 and argv[1] == "report":
        path = Path(argv[2])
        run = json.loads(path.read_text())
        path.with_suffix(".svg").write_text(svg(run))
        print(markdown(run), end="")
        return 0
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("cmd", choices=["step"])
    ap.add_argument("--backend", required=True, choices=["postgres", "redis"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pg-data")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args(argv[1:])
    if a.backend == "postgres" and not a.pg_data:
        ap.error("--pg-data is needed for postgres (the postmaster's pid)")
    try:
        out = step(a)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        out = {"backend": a.backend, "processes": len(a.hosts.split()), "jobs": a.jobs,
               "ok": False, "errors": [str(e)]}
    print(json.dumps(out, separators=(",", ":")))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
