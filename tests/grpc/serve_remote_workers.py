#!/usr/bin/env python3
"""Remote Python workers against `popqueue serve` alone (no `popqueue worker`).

Run by run_serve_remote_test.sh, which starts the server with a 1 s rescue
interval and a 1 s heartbeat interval (so the registry keeps a silent worker
3 x 1 s + 5 s = 8 s). Worker processes are this script run with --child.

  1. A dead worker's job: worker A fetches a job with lease_seconds=2 and is
     killed (SIGKILL) without a heartbeat; worker B, long-polling, gets the
     job again within the lease plus the rescue interval (plus slack), and
     A's late CompleteJob is refused (FAILED_PRECONDITION).
  2. The registry: A (while alive) and B are listed by `popqueue workers`
     and GET /api/workers with the address of their connection, their
     queues and running jobs; A drops out once silent.
  3. Two workers and a kill: two worker processes share 30 jobs; one is
     killed (SIGKILL) mid-way while it holds jobs (the check fails rather
     than pass with none held); every job ends completed, those the killed
     one held by the other worker after another attempt, each completed
     exactly once.
  4. The outcomes count in the server's /metrics.
  5. Enqueue-to-start latency of a long-polling worker, over the wire: the
     time from an Enqueue call to the job in the hands of a worker waiting in
     FetchJobs; printed, and bounded loosely (median under 200 ms).

Exits 0 when everything matched, 1 on a mismatch (with the reason).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


from grpc_test_support import Mismatch, expect, generate_stubs


def say(*args):
    print("serve-remote:", *args, flush=True)


# --- Worker processes (--child). ---

def child_main(args, grpc, pb, pb_grpc):
    """A remote worker: prints one JSON line per event on stdout."""
    stub = pb_grpc.PopQueueStub(grpc.insecure_channel(args.grpc))
    out = lambda **kv: print(json.dumps(kv), flush=True)
    if args.child == "hang":
        # Fetches one job and never heartbeats nor finishes it.
        while True:
            r = stub.FetchJobs(pb.FetchJobsRequest(
                queues=[args.queue], worker_id=args.worker_id, limit=1,
                lease_seconds=args.lease), timeout=30)
            if r.jobs:
                j = r.jobs[0]
                out(event="fetched", id=j.job.id, token=j.lease_token)
                break
            time.sleep(0.05)
        while True:
            time.sleep(60)
    # "work": long-polls, runs each job for --job-seconds, heartbeating.
    while True:
        req = pb.FetchJobsRequest(queues=[args.queue], worker_id=args.worker_id,
                                  limit=2, lease_seconds=args.lease)
        req.wait.FromSeconds(5)
        r = stub.FetchJobs(req, timeout=30)
        for j in r.jobs:
            out(event="fetched", id=j.job.id)
        for j in r.jobs:
            time.sleep(args.job_seconds)
            stub.Heartbeat(pb.HeartbeatRequest(
                worker_id=args.worker_id,
                items=[pb.HeartbeatItem(job_id=j.job.id, lease_token=j.lease_token)]),
                timeout=30)
            stub.CompleteJob(pb.CompleteJobRequest(job_id=j.job.id,
                                                   lease_token=j.lease_token), timeout=30)
            out(event="done", id=j.job.id)


def spawn(args, mode, worker_id, queue, lease, job_seconds=0.0):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode,
           "--grpc", args.grpc, "--http", args.http, "--popqueue", args.popqueue,
           "--db-url", args.db_url, "--proto-dir", args.proto_dir,
           "--worker-id", worker_id, "--queue", queue, "--lease", str(lease),
           "--job-seconds", str(job_seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


class Lines:
    """Reads a child's JSON lines in a thread."""

    def __init__(self, proc):
        self.events = []
        self.last_at = None  # time.monotonic() of the latest event
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))
                self.last_at = time.monotonic()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def snapshot_at(self):
        """The events so far and the time of the latest."""
        with self.lock:
            return list(self.events), self.last_at


# --- The checks. ---

def http_json(args, path):
    with urllib.request.urlopen("http://%s%s" % (args.http, path), timeout=30) as r:
        return json.loads(r.read())


def cli_workers(args):
    out = subprocess.run([args.popqueue, "workers", "--json", "--db-url", args.db_url],
                         check=True, capture_output=True, text=True).stdout
    return {w["id"]: w for w in json.loads(out)["workers"]}


def api_workers(args):
    return {w["id"]: w for w in http_json(args, "/api/workers")["workers"]}


def run(args, grpc, pb, pb_grpc):
    stub = pb_grpc.PopQueueStub(grpc.insecure_channel(args.grpc))
    grpc.channel_ready_future(grpc.insecure_channel(args.grpc)).result(timeout=30)

    # 1. A dead worker's job is rescued by serve alone.
    resp = stub.Enqueue(pb.EnqueueJobsRequest(jobs=[
        pb.JobSpec(name="dies", data="{}", queue="rescue", max_attempts=3)]), timeout=30)
    job_id = resp.results[0].id
    a = spawn(args, "hang", "py-A", "rescue", lease=2)
    a_lines = Lines(a)
    deadline = time.monotonic() + 30
    while not a_lines.snapshot():
        expect(time.monotonic() < deadline and a.poll() is None, "worker A fetched nothing")
        time.sleep(0.02)
    fetched_at = time.monotonic()
    a_job = a_lines.snapshot()[0]
    expect(a_job["id"] == job_id, "A fetched %s, want %s" % (a_job, job_id))

    # 2. The registry lists A with its address, queue and running job.
    for name, listing in (("popqueue workers", cli_workers), ("GET /api/workers", api_workers)):
        w = listing(args).get("py-A")
        expect(w is not None, "%s does not list py-A" % name)
        expect(w["address"] == "127.0.0.1" and w["queues"] == ["rescue"] and w["running"] == 1,
               "%s lists py-A as %s" % (name, w))
    a.send_signal(signal.SIGKILL)
    a.wait()
    killed_at = time.monotonic()

    # B long-polls the queue: the rescued job arrives when the rescuer runs.
    got = None
    while got is None:
        expect(time.monotonic() - fetched_at < 20, "the dead worker's job was never rescued")
        req = pb.FetchJobsRequest(queues=["rescue"], worker_id="py-B", limit=1,
                                  lease_seconds=30)
        req.wait.FromSeconds(10)
        r = stub.FetchJobs(req, timeout=30)
        if r.jobs:
            got = r.jobs[0]
    rescued_after = time.monotonic() - fetched_at
    say("dead worker's job (lease 2 s, rescue interval 1 s) fetched again after %.2f s"
        % rescued_after)
    expect(got.job.id == job_id and got.job.attempt == 2,
           "B got %s attempt %d, want %s attempt 2" % (got.job.id, got.job.attempt, job_id))
    expect(rescued_after >= 1.9, "rescued after %.2f s, before the lease ran out" % rescued_after)
    expect(rescued_after <= 2 + 1 + 1.5,
           "rescued after %.2f s, want within lease 2 s + rescue interval 1 s (+1.5 s)"
           % rescued_after)
    try:
        stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=a_job["token"]),
                         timeout=30)
        raise Mismatch("the dead worker's late CompleteJob was accepted")
    except grpc.RpcError as e:
        expect(e.code() == grpc.StatusCode.FAILED_PRECONDITION,
               "late CompleteJob gave %s, want FAILED_PRECONDITION" % e.code())
    stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=got.lease_token),
                     timeout=30)
    expect(stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=30).state == "completed",
           "B's completion was not stored")
    expect("py-B" in api_workers(args), "GET /api/workers does not list py-B")

    # A drops out of the registry once silent: 8 s after its last call by
    # the server's settings (the reader's heartbeat interval sets the ttl,
    # so `popqueue workers` with the default 10 s would keep it 35 s).
    while "py-A" in api_workers(args):
        expect(time.monotonic() - killed_at < 12, "py-A still listed 12 s after it died")
        time.sleep(0.5)
    say("killed worker left the registry %.1f s after its kill" % (time.monotonic() - killed_at))

    # 3. Two workers share 30 jobs; one is killed mid-way, while it holds
    # jobs: W1 prints "fetched" for a batch, then per job sleeps
    # job_seconds, heartbeats, completes and prints "done". Right after a
    # "fetched", or a "done" with jobs of the batch left, it sleeps on a job
    # it has not completed; the kill comes then, well inside that sleep, so
    # the jobs it printed and did not finish are the jobs it held.
    n = 30
    w1_job_seconds = 0.3
    stub.Enqueue(pb.EnqueueJobsRequest(jobs=[
        pb.JobSpec(name="work", data=json.dumps({"i": i}), queue="pool", max_attempts=3)
        for i in range(n)]), timeout=30)
    w1 = spawn(args, "work", "py-W1", "pool", lease=2, job_seconds=w1_job_seconds)
    w2 = spawn(args, "work", "py-W2", "pool", lease=2, job_seconds=0.1)
    l1, l2 = Lines(w1), Lines(w2)

    def ids(events, kind):
        return [e["id"] for e in events if e["event"] == kind]

    deadline = time.monotonic() + 30
    while True:
        expect(time.monotonic() < deadline and w1.poll() is None,
               "W1 never held a job after finishing 3: %s" % l1.snapshot())
        events, last_at = l1.snapshot_at()
        held = set(ids(events, "fetched")) - set(ids(events, "done"))
        if (len(ids(events, "done")) >= 3 and held
                and time.monotonic() - last_at < w1_job_seconds / 2):
            break
        time.sleep(0.005)
    w1.send_signal(signal.SIGKILL)
    w1.wait()
    l1.thread.join(timeout=10)  # its reader drains the pipe
    events = l1.snapshot()
    orphans = set(ids(events, "fetched")) - set(ids(events, "done"))
    say("W1 killed holding %d jobs" % len(orphans))
    expect(orphans, "W1 held no jobs when killed (it held %s at the check): the rescue "
                    "check below would pass vacuously" % sorted(held))
    deadline = time.monotonic() + 60
    while True:
        page = stub.ListJobs(pb.ListJobsRequest(queue="pool", limit=100), timeout=30)
        states = [j.state for j in page.jobs]
        if states.count("completed") == n:
            break
        expect(time.monotonic() < deadline,
               "not every job completed in 60 s: %s" % {s: states.count(s) for s in set(states)})
        time.sleep(0.2)
    by_id = {j.id: j for j in page.jobs}
    for o in orphans:
        expect(by_id[o].attempt >= 2 and by_id[o].worker_id == "py-W2",
               "W1's job %s ended attempt %d by %s" % (o, by_id[o].attempt, by_id[o].worker_id))
    # Completed once: W2 printed "done" (its CompleteJob returned OK) for
    # each exactly once, W1 never. W2's last lines may still be on the way.
    deadline = time.monotonic() + 10
    while not orphans <= set(ids(l2.snapshot(), "done")):
        expect(time.monotonic() < deadline and w2.poll() is None,
               "W2 reported no completion of W1's jobs %s" % sorted(orphans))
        time.sleep(0.02)
    done2 = ids(l2.snapshot(), "done")
    for o in orphans:
        expect(done2.count(o) == 1, "W2 completed W1's job %s %d times" % (o, done2.count(o)))
    w2.send_signal(signal.SIGKILL)
    w2.wait()

    # 4. Every completion through gRPC counts in /metrics.
    with urllib.request.urlopen("http://%s/metrics" % args.http, timeout=30) as r:
        metrics = r.read().decode()
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("popqueue_jobs_completed_total{"):
            counts[line.split('name="')[1].split('"')[0]] = float(line.split()[-1])
    # Exactly n: a job completes once, however many workers held it.
    expect(counts.get("work", 0) == n and counts.get("dies", 0) == 1,
           "popqueue_jobs_completed_total: %s" % counts)
    say("completions in /metrics: %s" % counts)

    # 5. Enqueue-to-start latency of a long-polling worker.
    samples = []
    for i in range(20):
        got = {}

        def wait_for_job():
            req = pb.FetchJobsRequest(queues=["latency"], worker_id="py-L", limit=1)
            req.wait.FromSeconds(10)
            r = stub.FetchJobs(req, timeout=30)
            got["at"] = time.monotonic()
            got["jobs"] = list(r.jobs)

        t = threading.Thread(target=wait_for_job)
        t.start()
        time.sleep(0.1)  # the fetch is waiting by now
        enqueued = time.monotonic()
        stub.Enqueue(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(name="ping", queue="latency")]),
                     timeout=30)
        t.join()
        expect(len(got["jobs"]) == 1, "the long-polling fetch got %s" % got["jobs"])
        samples.append((got["at"] - enqueued) * 1000)
        stub.CompleteJob(pb.CompleteJobRequest(job_id=got["jobs"][0].job.id,
                                               lease_token=got["jobs"][0].lease_token),
                         timeout=30)
    samples.sort()
    say("long-poll enqueue-to-start latency over %d runs (Python client, loopback): "
        "median %.2f ms, max %.2f ms" % (len(samples), samples[len(samples) // 2], samples[-1]))
    expect(samples[len(samples) // 2] < 200, "median latency %.1f ms" % samples[len(samples) // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grpc", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--popqueue", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--child", choices=["hang", "work"])
    ap.add_argument("--worker-id")
    ap.add_argument("--queue")
    ap.add_argument("--lease", type=int, default=30)
    ap.add_argument("--job-seconds", type=float, default=0.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="popqueue-pystubs-") as out_dir:
        generate_stubs(args.proto_dir, out_dir)
        import grpc
        import popqueue_pb2 as pb
        import popqueue_pb2_grpc as pb_grpc
        if args.child:
            child_main(args, grpc, pb, pb_grpc)
            return 0
        try:
            run(args, grpc, pb, pb_grpc)
        except Mismatch as e:
            print("FAIL:", e, file=sys.stderr)
            return 1
        except grpc.RpcError as e:
            print("FAIL: unexpected RPC error %s: %s" % (e.code(), e.details()),
                  file=sys.stderr)
            return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
