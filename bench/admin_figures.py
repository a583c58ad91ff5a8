#!/usr/bin/env python3
"""What the dashboard's and Prometheus' reads cost at scale (issue 23).

Fills a store with N waiting jobs through the library (popqueue_bench W1:
batches of 1000, spread over --queues queues, priority 0), starts
`popqueue serve` on it with no workers, and times GET /metrics, /api/stats
and /api/queues (median and max of --samples requests each, after one
warm-up request). Prints one Markdown table row per endpoint.

  python3 bench/admin_figures.py --db-url sqlite:///tmp/a.db --jobs 1000000
  python3 bench/admin_figures.py --db-url "$POPQUEUE_TEST_POSTGRES_URL" \
      --collection admin1m --jobs 1000000

Not a test: it takes minutes per store (the fill dominates). Use a fresh
--collection (or SQLite file) per run; --no-fill measures what is there.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
        if r.status != 200:
            raise RuntimeError("%s: HTTP %d" % (url, r.status))
    return time.perf_counter() - start, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--collection", default="popqueue")
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("--queues", type=int, default=4)
    ap.add_argument("--samples", type=int, default=9)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--no-fill", action="store_true")
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    if not a.no_fill:
        start = time.time()
        subprocess.run([os.path.join(a.build, "bench", "popqueue_bench"), "--workload", "w1",
                        "--db-url", a.db_url, "--collection", a.collection, "--jobs",
                        str(a.jobs), "--batch", "1000", "--queues", str(a.queues)],
                       check=True, stdout=subprocess.DEVNULL)
        print("filled %d jobs in %.0f s" % (a.jobs, time.time() - start), file=sys.stderr)

    port = free_port()
    serve = subprocess.Popen(
        [os.path.join(a.build, "src", "cli", "popqueue"), "serve", "--db-url", a.db_url,
         "--collection", a.collection, "--port", str(port), "--host", "127.0.0.1",
         "--no-grpc", "--no-maintenance"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(300):
            try:
                get(base + "/readyz")
                break
            except OSError:
                time.sleep(0.1)
        _, body = get(base + "/api/stats")
        waiting = json.loads(body)["totals"]["available"]
        label = a.label or a.db_url.split(":")[0]
        for path in ("/metrics", "/api/stats", "/api/queues"):
            get(base + path)  # warm-up
            times = [get(base + path)[0] * 1000 for _ in range(a.samples)]
            print("| %s | %d | `%s` | %.1f | %.1f |" %
                  (label, waiting, path, statistics.median(times), max(times)))
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:  # stuck in a slow request
            serve.kill()
            serve.wait()


if __name__ == "__main__":
    main()
