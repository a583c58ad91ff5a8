#!/usr/bin/env python3
"""A remote pop-queue worker in Python, run against a live gRPC server.

Generates the Python stubs from proto/popqueue.proto into a temporary folder
(grpc_tools, from Debian's python3-grpc-tools), then plays a client and a
worker over the wire:

  - enqueues a batch: one job that succeeds with a result, one that always
    fails;
  - fetches, heartbeats (with progress) and completes or fails them until
    both are finished, as any remote worker would;
  - checks the outcome through GetJobDetails: the first completed with its
    result, the second dead after retries + 1 attempts, retried by the
    server's policy in between;
  - checks auth, fencing and error codes, and requeues the dead job;
  - a job past its 1 s timeout stays running under its lease while heartbeated,
    the answer lists it in stop_ids and the job shows stopping/timed_out;
  - a job's metadata (a traceparent) reaches the worker that fetches it;
  - a workflow (b waits for a) runs in order, a batch's on_success callback
    becomes available once both members completed, bad edges name the field,
    and ListSchedules shows the server's schedule with its next fire time.

Exits 0 when everything matched, 1 on a mismatch (with the reason).
"""

import argparse
import json
import os
import sys
import tempfile
import time


from grpc_test_support import Mismatch, expect, generate_stubs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--retries", type=int, required=True,
                    help="the server queue's retries (max attempts - 1)")
    ap.add_argument("--proto-dir", required=True)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="popqueue-pystubs-") as out_dir:
        generate_stubs(args.proto_dir, out_dir)
        import grpc
        import popqueue_pb2 as pb
        import popqueue_pb2_grpc as pb_grpc
        from google.protobuf import wrappers_pb2

        pb.Int32Value = wrappers_pb2.Int32Value
        try:
            run(args, grpc, pb, pb_grpc)
        except Mismatch as e:
            print("FAIL:", e, file=sys.stderr)
            return 1
        except grpc.RpcError as e:
            print("FAIL: unexpected RPC error %s: %s" % (e.code(), e.details()),
                  file=sys.stderr)
            return 1
    print("remote worker: all checks passed")
    return 0


def run(args, grpc, pb, pb_grpc):
    channel = grpc.insecure_channel(args.address)
    grpc.channel_ready_future(channel).result(timeout=30)
    stub = pb_grpc.PopQueueStub(channel)
    auth = [("authorization", "Bearer " + args.token)] if args.token else []
    worker_id = "py-worker-%d" % os.getpid()

    def code_of(call, request, metadata=()):
        try:
            call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""

    # Auth: a mutating call without the token is refused.
    if args.token:
        code, _ = code_of(stub.Enqueue, pb.EnqueueJobsRequest(
            jobs=[pb.JobSpec(name="square")]))
        expect(code == grpc.StatusCode.UNAUTHENTICATED,
               "Enqueue without a token gave %s, want UNAUTHENTICATED" % code)

    # Enqueue one job that succeeds and one that always fails (fast backoff).
    fails = pb.JobSpec(name="always-fails", data="{}", queue="py")
    fails.backoff_base.FromMilliseconds(50)
    resp = stub.Enqueue(pb.EnqueueJobsRequest(jobs=[
        pb.JobSpec(name="square", data=json.dumps({"n": 7}), queue="py"),
        fails,
    ]), metadata=auth, timeout=30)
    expect(len(resp.results) == 2 and all(r.inserted for r in resp.results),
           "Enqueue results: %s" % resp)
    ok_id, bad_id = resp.results[0].id, resp.results[1].id

    # The worker loop: fetch, heartbeat, complete or fail, until both finish.
    fail_states = []
    completed = False
    deadline = time.monotonic() + 60
    while not completed or (not fail_states or fail_states[-1] != "dead"):
        expect(time.monotonic() < deadline,
               "jobs not finished in 60s (completed=%s, fail states=%s)"
               % (completed, fail_states))
        fetched = stub.FetchJobs(pb.FetchJobsRequest(
            queues=["py"], worker_id=worker_id, limit=10, lease_seconds=30),
            metadata=auth, timeout=30)
        if not fetched.jobs:
            time.sleep(0.05)
            continue
        for leased in fetched.jobs:
            job = leased.job
            expect(job.state == "running" and job.worker_id == worker_id,
                   "fetched job not running under this worker: %s" % job)
            beat = stub.Heartbeat(pb.HeartbeatRequest(items=[pb.HeartbeatItem(
                job_id=job.id, lease_token=leased.lease_token,
                progress=pb.Int32Value(value=50))]), metadata=auth, timeout=30)
            expect(list(beat.extended_ids) == [job.id] and not beat.lost_ids,
                   "heartbeat did not extend %s: %s" % (job.id, beat))
            if job.name == "square":
                n = json.loads(job.data)["n"]
                req = pb.CompleteJobRequest(job_id=job.id,
                                            lease_token=leased.lease_token)
                req.result.value = json.dumps({"square": n * n})
                stub.CompleteJob(req, metadata=auth, timeout=30)
                completed = True
            else:
                out = stub.FailJob(pb.FailJobRequest(
                    job_id=job.id, lease_token=leased.lease_token,
                    error="attempt %d failed" % job.attempt),
                    metadata=auth, timeout=30)
                fail_states.append(out.state)

    # The outcome, through the original README's call.
    def details(job_id):
        out = stub.GetJobDetails(pb.JobDetailsRequest(jobId=job_id), timeout=30)
        expect(len(out.jobDetails) == 1 and out.jobDetails[0].id == job_id,
               "GetJobDetails(jobId=%s): %s" % (job_id, out))
        return out.jobDetails[0].job

    attempts = args.retries + 1
    ok = details(ok_id)
    expect(ok.state == "completed", "square job state %s" % ok.state)
    expect(ok.HasField("result") and json.loads(ok.result.value) == {"square": 49},
           "square job result %r" % ok.result.value)
    expect(ok.attempt == 1 and ok.progress == 50,
           "square job attempt %d progress %d" % (ok.attempt, ok.progress))
    bad = details(bad_id)
    expect(bad.state == "dead", "failing job state %s, want dead" % bad.state)
    expect(bad.max_attempts == attempts and bad.attempt == attempts,
           "failing job attempt %d of %d, want %d" % (bad.attempt, bad.max_attempts, attempts))
    expect(fail_states == ["retryable"] * args.retries + ["dead"],
           "FailJob states %s" % fail_states)
    expect([e.message for e in bad.errors] ==
           ["attempt %d failed" % a for a in range(1, attempts + 1)],
           "failing job errors %s" % [e.message for e in bad.errors])

    # Fencing: the finished job's old lease is refused.
    code, message = code_of(stub.CompleteJob, pb.CompleteJobRequest(
        job_id=ok_id, lease_token="12345"), auth)
    expect(code == grpc.StatusCode.FAILED_PRECONDITION,
           "CompleteJob with a stale token gave %s: %s" % (code, message))
    # Error codes.
    code, message = code_of(stub.GetJobDetails, pb.JobDetailsRequest(jobId="not-a-number"))
    expect(code == grpc.StatusCode.INVALID_ARGUMENT and "jobId" in message,
           "bad jobId gave %s: %s" % (code, message))
    code, _ = code_of(stub.GetJobDetails, pb.JobDetailsRequest(jobId="42"))
    expect(code == grpc.StatusCode.NOT_FOUND, "unknown job gave %s" % code)

    # The dead-letter job goes back to work on request.
    reply = stub.RequeueJob(pb.RequeueJobRequest(jobId=bad_id), metadata=auth, timeout=30)
    expect(bad_id in reply.message and "requeued" in reply.message,
           "RequeueJob message %r" % reply.message)
    requeued = reply.job
    expect(requeued.state == "available" and requeued.attempt == 0,
           "requeued job: %s %d" % (requeued.state, requeued.attempt))
    listed = stub.ListJobs(pb.ListJobsRequest(queue="py", states=["available"]),
                           timeout=30)
    expect([j.id for j in listed.jobs] == [bad_id], "ListJobs: %s" % listed)

    # A job past its timeout: told to stop, its lease kept while heartbeated.
    slow = pb.JobSpec(name="slow", data="{}", queue="py-slow")
    slow.timeout.FromSeconds(1)
    slow_id = stub.Enqueue(pb.EnqueueJobsRequest(jobs=[slow]), metadata=auth,
                           timeout=30).results[0].id
    fetched = stub.FetchJobs(pb.FetchJobsRequest(
        queues=["py-slow"], worker_id=worker_id, limit=1, lease_seconds=30),
        metadata=auth, timeout=30)
    expect([j.job.id for j in fetched.jobs] == [slow_id], "FetchJobs slow: %s" % fetched)
    token = fetched.jobs[0].lease_token
    time.sleep(1.2)
    beat = stub.Heartbeat(pb.HeartbeatRequest(items=[pb.HeartbeatItem(
        job_id=slow_id, lease_token=token)]), metadata=auth, timeout=30)
    expect(list(beat.extended_ids) == [slow_id] and list(beat.stop_ids) == [slow_id],
           "heartbeat past the timeout: %s" % beat)
    job = stub.GetJob(pb.GetJobRequest(job_id=slow_id), timeout=30)
    expect(job.state == "running" and job.timed_out and job.stopping.reason == "timeout",
           "job past its timeout: %s" % job)
    out = stub.FailJob(pb.FailJobRequest(job_id=slow_id, lease_token=token,
                                         error="stopped after its timeout"),
                       metadata=auth, timeout=30)
    expect(out.state == "retryable", "FailJob after the timeout: %s" % out.state)

    # Handler outcomes: a snooze gives the attempt back, a discard cancels.
    def fetch_one(queue):
        fetched = stub.FetchJobs(pb.FetchJobsRequest(
            queues=[queue], worker_id=worker_id, limit=1, lease_seconds=30),
            metadata=auth, timeout=30)
        expect(len(fetched.jobs) == 1, "FetchJobs %s: %s" % (queue, fetched))
        return fetched.jobs[0]

    poll = pb.JobSpec(name="poll", data="{}", queue="py-outcomes", max_attempts=1)
    poll_id = stub.Enqueue(pb.EnqueueJobsRequest(jobs=[poll]), metadata=auth,
                           timeout=30).results[0].id
    leased = fetch_one("py-outcomes")
    req = pb.FailJobRequest(job_id=poll_id, lease_token=leased.lease_token)
    req.snooze.FromMilliseconds(300)
    out = stub.FailJob(req, metadata=auth, timeout=30)
    expect(out.state == "scheduled" and out.HasField("next_run_at"),
           "FailJob snooze: %s" % out)
    job = stub.GetJob(pb.GetJobRequest(job_id=poll_id), timeout=30)
    expect(job.state == "scheduled" and job.attempt == 0 and not job.errors,
           "snoozed job: %s" % job)
    time.sleep(0.4)
    leased = fetch_one("py-outcomes")
    expect(leased.job.attempt == 1, "snoozed job's next attempt: %d" % leased.job.attempt)
    out = stub.FailJob(pb.FailJobRequest(job_id=poll_id, lease_token=leased.lease_token,
                                         error="no longer wanted", discard=True),
                       metadata=auth, timeout=30)
    expect(out.state == "cancelled", "FailJob discard: %s" % out.state)
    job = stub.GetJob(pb.GetJobRequest(job_id=poll_id), timeout=30)
    expect([e.message for e in job.errors] == ["discarded: no longer wanted"],
           "discarded job errors: %s" % job.errors)
    code, message = code_of(stub.FailJob, pb.FailJobRequest(
        job_id=poll_id, lease_token=leased.lease_token, discard=True, no_retry=True), auth)
    expect(code == grpc.StatusCode.INVALID_ARGUMENT and "at most one" in message,
           "FailJob discard + no_retry gave %s: %s" % (code, message))


    # Metadata: a trace context travels with the job to the worker.
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = stub.Enqueue(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(
        name="traced", queue="py-meta", metadata={"traceparent": trace, "tenant": "acme"})]),
        metadata=auth, timeout=30).results[0].id
    leased = fetch_one("py-meta")
    expect(leased.job.id == traced and dict(leased.job.metadata) ==
           {"traceparent": trace, "tenant": "acme"},
           "the fetched job's metadata: %s" % dict(leased.job.metadata))
    stub.CompleteJob(pb.CompleteJobRequest(job_id=traced, lease_token=leased.lease_token),
                     metadata=auth, timeout=30)
    code, message = code_of(stub.Enqueue, pb.EnqueueJobsRequest(jobs=[pb.JobSpec(
        name="traced", metadata={"bad key": "x"})]), auth)
    expect(code == grpc.StatusCode.INVALID_ARGUMENT and "metadata" in message,
           "a bad metadata key gave %s: %s" % (code, message))

    # A workflow: b waits for a; GetWorkflow shows the edge.
    wf = stub.EnqueueWorkflow(pb.EnqueueWorkflowRequest(jobs=[
        pb.WorkflowJobSpec(key="a", name="step", data='{"n": 1}', queue="py-wf"),
        pb.WorkflowJobSpec(key="b", name="step", data='{"n": 2}', queue="py-wf",
                           depends_on=[pb.WorkflowEdgeSpec(key="a")]),
    ]), metadata=auth, timeout=30)
    expect(len(wf.job_ids) == 2 and wf.id == wf.job_ids[0], "EnqueueWorkflow: %s" % wf)
    a_id, b_id = wf.job_ids
    got = {j.id: j for j in stub.GetWorkflow(
        pb.GetWorkflowRequest(workflow_id=wf.id), timeout=30).jobs}
    expect(set(got) == {a_id, b_id}, "GetWorkflow jobs: %s" % list(got))
    b = got[b_id]
    expect(b.state == "scheduled" and b.waiting_parents == 1 and b.workflow_id == wf.id
           and [(e.id, e.ignore_failure) for e in b.parents] == [(a_id, False)],
           "the waiting job: %s" % b)
    expect([e.id for e in got[a_id].dependants] == [b_id], "a's dependants: %s" % got[a_id])
    for want in (a_id, b_id):
        fetched = stub.FetchJobs(pb.FetchJobsRequest(
            queues=["py-wf"], worker_id=worker_id, limit=10, lease_seconds=30),
            metadata=auth, timeout=30)
        expect([j.job.id for j in fetched.jobs] == [want],
               "FetchJobs py-wf: %s, want only %s" % ([j.job.id for j in fetched.jobs], want))
        stub.CompleteJob(pb.CompleteJobRequest(
            job_id=want, lease_token=fetched.jobs[0].lease_token), metadata=auth, timeout=30)
    code, message = code_of(stub.EnqueueWorkflow, pb.EnqueueWorkflowRequest(jobs=[
        pb.WorkflowJobSpec(name="step", depends_on=[pb.WorkflowEdgeSpec(key="nope")])]), auth)
    expect(code == grpc.StatusCode.INVALID_ARGUMENT and "jobs[0].depends_on[0]" in message,
           "an unknown parent gave %s: %s" % (code, message))

    # A batch with an on_success callback.
    batch = stub.EnqueueBatch(pb.EnqueueBatchRequest(
        jobs=[pb.JobSpec(name="member", queue="py-batch") for _ in range(2)],
        on_success=pb.JobSpec(name="all-done", queue="py-batch-done")),
        metadata=auth, timeout=30)
    expect(len(batch.job_ids) == 2 and batch.on_success_id and not batch.on_complete_id,
           "EnqueueBatch: %s" % batch)
    progress = stub.GetBatch(pb.GetBatchRequest(batch_id=batch.id), timeout=30)
    expect(progress.total == 2 and progress.counts["available"] == 2
           and not progress.finished, "batch before: %s" % progress)
    fetched = stub.FetchJobs(pb.FetchJobsRequest(
        queues=["py-batch"], worker_id=worker_id, limit=10, lease_seconds=30),
        metadata=auth, timeout=30)
    expect(sorted(j.job.id for j in fetched.jobs) == sorted(batch.job_ids),
           "FetchJobs py-batch: %s" % fetched)
    for leased in fetched.jobs:
        stub.CompleteJob(pb.CompleteJobRequest(job_id=leased.job.id,
                                               lease_token=leased.lease_token),
                         metadata=auth, timeout=30)
    progress = stub.GetBatch(pb.GetBatchRequest(batch_id=batch.id), timeout=30)
    expect(progress.finished and progress.succeeded and progress.counts["completed"] == 2,
           "batch after: %s" % progress)
    expect(fetch_one("py-batch-done").job.id == batch.on_success_id,
           "the on_success callback was not the job fetched")

    # The server's schedule.
    schedules = stub.ListSchedules(pb.ListSchedulesRequest(), timeout=30).schedules
    expect([(s.id, s.name, s.cron, s.time_zone, s.queue, s.missed) for s in schedules] ==
           [("py-nightly", "nightly-report", "30 3 * * *", "Europe/Paris", "reports", "skip")],
           "ListSchedules: %s" % schedules)
    nxt = schedules[0]
    expect(nxt.HasField("next_fire") and nxt.next_fire.seconds > time.time()
           and nxt.next_fire_local[11:16] == "03:30",
           "the schedule's next fire: %s" % nxt)


if __name__ == "__main__":
    sys.exit(main())
