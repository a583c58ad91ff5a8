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
//   }
//
// Fencing: a call whose lease token no longer matches (the lease expired and
// the job was rescued or claimed again) is refused with FailedPrecondition
// and changes nothing. FailJob decides retryable (after the Queue's
// config().worker.retry backoff) versus dead exactly as the local workers do.
//
// Thread-safety: every method may be called from any thread. The Queue must
// outlive the RemoteWorkerApi.
#ifndef POPQUEUE_REMOTE_WORKER_H_
#define POPQUEUE_REMOTE_WORKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "popqueue/job.h"
#include "popqueue/queue.h"

namespace popqueue {

struct FetchJobsParams {
  std::vector<std::string> queues;  // empty = {kDefaultQueue}
  std::string worker_id;            // required: the lease holder
  int limit = 1;                    // 1..1000
  // Lease length; zero = config().worker.lease. At most 24 hours.
  absl::Duration lease = absl::ZeroDuration();
};

// Where FailJob sent the job.
struct FailJobOutcome {
  JobState state = JobState::kRetryable;          // kRetryable, kDead or kCancelled
  absl::Time next_run_at = absl::InfinitePast();  // for kRetryable
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
  explicit RemoteWorkerApi(Queue& queue) : queue_(queue) {}

  // Claims up to params.limit due jobs (running now, attempt incremented).
  // Each returned Job carries its lease_token and lease_expires_at.
  absl::StatusOr<std::vector<Job>> FetchJobs(const FetchJobsParams& params);

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

  // Extends the leases of `items` (1..1000) by `lease` (zero =
  // config().worker.lease) and stores their progress.
  absl::StatusOr<RemoteHeartbeatResult> Heartbeat(const std::vector<RemoteHeartbeatItem>& items,
                                                  absl::Duration lease = absl::ZeroDuration());

 private:
  Queue& queue_;
};

}  // namespace popqueue

#endif  // POPQUEUE_REMOTE_WORKER_H_
