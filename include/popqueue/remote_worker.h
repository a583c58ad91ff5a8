// popqueue::RemoteWorkerApi: the worker protocol for workers that run outside
// this process (the gRPC server's FetchJobs/CompleteJob/FailJob/Heartbeat).
//
// A Queue's own workers claim, heartbeat and finish jobs internally; a remote
// worker does the same steps one call at a time, presenting the lease token
// it received with each job:
//
//   popqueue::RemoteWorkerApi api(queue);
//   auto jobs = api.FetchJobs({.queues = {"email"}, .worker_id = "py-1", .limit = 10});
//   for (const popqueue::Job& job : *jobs) {
//     ... run it, calling api.Heartbeat({{job.id, job.lease_token}}) every lease/3 ...
//     api.CompleteJob(job.id, job.lease_token, "sent");
//     // or: api.FailJob(job.id, job.lease_token, "smtp timeout");
//     // or: api.SnoozeJob(job.id, job.lease_token, absl::Minutes(1));
//     // or: api.DiscardJob(job.id, job.lease_token, "account deleted");
//   }
//
// Fencing: a call whose lease token no longer matches (the lease expired and
// the job was rescued or claimed again) is refused with FailedPrecondition
// and changes nothing. FailJob decides retryable (after the Queue's
// config().worker.retry backoff) versus dead exactly as the local workers do.
//
// Remote workers are first-class: FetchJobs applies the limits of the
// Queue's WorkerOptions to each worker_id (concurrency, queue and job-name
// rate limits; see FetchJobs), may wait for work (FetchJobsParams::wait),
// and registers the worker in the worker registry (ListWorkers); outcomes
// raise the Queue's job events (OnEvent: metrics, notifications) as the
// library's own workers do: started, completed, retrying, dead, cancelled.
// The state behind this (the jobs each worker holds, their limits, the
// wake-ups) belongs to the Queue, shared by all its RemoteWorkerApi objects.
//
// Thread-safety: every method may be called from any thread. The Queue must
// outlive the RemoteWorkerApi.
#ifndef POPQUEUE_REMOTE_WORKER_H_
#define POPQUEUE_REMOTE_WORKER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/job.h"
#include "popqueue/outcome.h"
#include "popqueue/queue.h"

namespace popqueue {

struct FetchJobsParams {
  std::vector<std::string> queues;  // empty = {kDefaultQueue}
  std::string worker_id;            // required: the lease holder
  int limit = 1;                    // 1..1000
  // Lease length; zero = config().worker.lease. At most 24 hours.
  absl::Duration lease = absl::ZeroDuration();
  // Long-poll: when no job is due, wait up to this long for one (woken by
  // the same notifications as the library's workers), at most
  // RemoteWorkerOptions::max_wait. Zero = return at once.
  absl::Duration wait = absl::ZeroDuration();
  // The caller's network address, for the worker registry ("" = unknown).
  std::string address;
  // Polled while waiting: true ends the wait (the caller went away).
  std::function<bool()> cancelled;
};

// An explicit registration (RegisterWorker); fetching or heartbeating with
// a worker id registers it too.
struct RemoteWorkerRegistration {
  std::string worker_id;            // required
  std::vector<std::string> queues;  // the queues it works
  std::string host;                 // "" = its address
  int64_t pid = 0;
  std::string address;  // the caller's network address
};

struct RemoteWorkerOptions {
  // The longest FetchJobsParams::wait honoured (longer waits are cut).
  absl::Duration max_wait = absl::Seconds(20);
};

// Where FailJob (SnoozeJob, DiscardJob) sent the job.
struct FailJobOutcome {
  JobState state = JobState::kRetryable;          // kRetryable, kDead, kCancelled or
                                                  // kScheduled (snoozed)
  absl::Time next_run_at = absl::InfinitePast();  // for kRetryable and kScheduled
};

struct RemoteHeartbeatItem {
  JobId id = 0;
  int64_t lease_token = 0;
  std::optional<int> progress;  // 0..100 (clamped); nullopt = unchanged
};

struct RemoteHeartbeatResult {
  std::vector<JobId> extended;          // leases still held, extended
  std::vector<JobId> cancel_requested;  // extended, but Cancel() was asked for
  std::vector<JobId> lost;              // leases lost: abandon these jobs
  // Extended, but past the job's timeout (its own, else the queue's default
  // worker timeout) or cancelled: stop the handler, then FailJob. The lease
  // stays held while the worker heartbeats, so no retry starts meanwhile;
  // the job shows the stop request (Job::stopping, reason "timeout").
  std::vector<JobId> stop;
};

class RemoteWorkerApi {
 public:
  explicit RemoteWorkerApi(Queue& queue, RemoteWorkerOptions options = {})
      : queue_(queue), options_(options) {}

  // Claims up to params.limit due jobs (running now, attempt incremented),
  // fewer when the limits of the Queue's WorkerOptions allow fewer (the
  // per-queue concurrency[queue] and max_concurrency, counting the jobs the
  // worker holds, and queue_rate_limits; a job over its job_rate_limits
  // waits in the Queue, leased, for the worker's next fetch; paused queues
  // give none). Each
  // returned Job carries its lease_token and lease_expires_at. Registers
  // the worker (address, queues, running jobs) in the worker registry.
  absl::StatusOr<std::vector<Job>> FetchJobs(const FetchJobsParams& params);

  // Writes the worker's registry entry now; DeregisterWorker removes it
  // (without one, it drops out once it stops calling).
  absl::Status RegisterWorker(const RemoteWorkerRegistration& registration);
  absl::Status DeregisterWorker(const std::string& worker_id);

  // Marks the job completed with an optional result (at most
  // config().max_payload_bytes). NotFound for unknown ids;
  // FailedPrecondition when the lease token does not match.
  absl::Status CompleteJob(JobId id, int64_t lease_token,
                           std::optional<std::string> result = std::nullopt);

  // Records a failed attempt with `error`. The job becomes cancelled when
  // Cancel() was requested, dead when `retry` is false or no attempts remain,
  // and retryable after RetryDelay(config().worker.retry, ...) otherwise.
  // NotFound / FailedPrecondition as for CompleteJob.
  absl::StatusOr<FailJobOutcome> FailJob(JobId id, int64_t lease_token, std::string error,
                                         bool retry = true);
  // The handler outcomes of popqueue/outcome.h, for remote handlers. Snooze:
  // scheduled again after `delay` (0 to 366 days) without using an attempt
  // (the attempt counter is given back, no error recorded). Discard: ends
  // cancelled with `reason` kept as its error, never retried. (Fail without
  // retry is FailJob with retry = false.) A requested Cancel() wins: the job
  // ends cancelled. NotFound / FailedPrecondition as for CompleteJob.
  absl::StatusOr<FailJobOutcome> SnoozeJob(JobId id, int64_t lease_token, absl::Duration delay);
  absl::StatusOr<FailJobOutcome> DiscardJob(JobId id, int64_t lease_token, std::string reason);

  // Extends the leases of `items` (1..1000) by `lease` (zero =
  // config().worker.lease) and stores their progress.
  // With `worker_id`, it also heartbeats that worker's registry entry.
  absl::StatusOr<RemoteHeartbeatResult> Heartbeat(const std::vector<RemoteHeartbeatItem>& items,
                                                  absl::Duration lease = absl::ZeroDuration(),
                                                  const std::string& worker_id = "",
                                                  const std::string& address = "");

  // Waiting fetches return now, and later ones do not wait (shutdown).
  void StopWaiting();

 private:
  // FailJob, SnoozeJob and DiscardJob: one fenced decision and write.
  absl::StatusOr<FailJobOutcome> EndAttempt(JobId id, int64_t lease_token, std::string error,
                                            const ParsedOutcome& outcome);
  absl::StatusOr<std::vector<Job>> ClaimOnce(const FetchJobsParams& params,
                                             const std::vector<std::string>& queues,
                                             absl::Duration lease);
  // Writes the registry entry of `worker` when due.
  void TouchRegistry(const std::string& worker, const std::string& address,
                     const std::vector<std::string>& queues);

  Queue& queue_;
  const RemoteWorkerOptions options_;
  std::atomic<bool> stopping_{false};
};

}  // namespace popqueue

#endif  // POPQUEUE_REMOTE_WORKER_H_
