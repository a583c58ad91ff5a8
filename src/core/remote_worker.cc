// RemoteWorkerApi: the claim/complete/fail/heartbeat steps of the worker
// runtime, one call at a time, for workers in other processes or languages.
//
// The decisions mirror the local runtime (runtime.cc Decide, heartbeater.cc)
// so that a job behaves the same whoever runs it: the same retry policy and
// attempt budget, cancellation winning over retry, and every change fenced
// by the lease token. A job past its timeout keeps its lease while its worker
// heartbeats it; the heartbeat answer tells the worker to stop (`stop`).
#include "popqueue/remote_worker.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "common/ids.h"
#include "core/queue_impl.h"
#include "core/retry_policy.h"
#include "store/store.h"

namespace popqueue {
namespace {

constexpr int kMaxBatch = 1000;
constexpr size_t kMaxErrorBytes = 64 << 10;
constexpr absl::Duration kMaxLease = absl::Hours(24);

absl::StatusOr<absl::Duration> LeaseOrDefault(absl::Duration lease, const QueueConfig& config) {
  if (lease == absl::ZeroDuration()) return config.worker.lease;
  if (lease < absl::Seconds(1) || lease > kMaxLease) {
    return FieldError("lease", absl::StrFormat("must be between 1s and %s, got %s",
                                               absl::FormatDuration(kMaxLease),
                                               absl::FormatDuration(lease)));
  }
  return lease;
}

absl::Status LeaseLost(const Job& job, int64_t lease_token) {
  if (job.state != JobState::kRunning) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "job %d is %s, not running: its lease is gone and the outcome was discarded", job.id,
        JobStateName(job.state)));
  }
  return absl::FailedPreconditionError(
      absl::StrFormat("job %d: lease token %d does not match (the lease expired and the job was "
                      "claimed again); the outcome was discarded",
                      job.id, lease_token));
}

}  // namespace

absl::StatusOr<std::vector<Job>> RemoteWorkerApi::FetchJobs(const FetchJobsParams& params) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (params.worker_id.empty()) {
    return FieldError("worker_id", "required (the lease holder)");
  }
  if (params.worker_id.size() > 255) {
    return FieldError("worker_id", "at most 255 bytes");
  }
  if (params.limit < 1 || params.limit > kMaxBatch) {
    return FieldError("limit", absl::StrFormat("must be 1-%d, got %d", kMaxBatch, params.limit));
  }
  auto lease = LeaseOrDefault(params.lease, impl.config());
  if (!lease.ok()) return lease.status();
  std::vector<std::string> queues = params.queues;
  if (queues.empty()) queues.push_back(kDefaultQueue);
  return impl.store()->JobClaim(store::JobClaimParams{.queues = std::move(queues),
                                                      .worker_id = params.worker_id,
                                                      .limit = params.limit,
                                                      .now = impl.Now(),
                                                      .lease = *lease,
                                                      .lease_token = RandomToken()});
}

absl::Status RemoteWorkerApi::CompleteJob(JobId id, int64_t lease_token,
                                          std::optional<std::string> result) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (result && result->size() > impl.config().max_payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("result: %d bytes exceeds the limit of %d bytes", result->size(),
                        impl.config().max_payload_bytes));
  }
  store::JobCompleteManyParams params{.now = impl.Now()};
  params.items.push_back(
      store::JobCompleteItem{.id = id, .lease_token = lease_token, .result = std::move(result)});
  auto done = impl.store()->JobCompleteMany(params);
  if (!done.ok()) return done.status();
  if (!done->empty()) return absl::OkStatus();
  // Refused: say why (unknown job, finished, or another lease).
  auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
  if (!job.ok()) return job.status();
  return LeaseLost(*job, lease_token);
}

absl::StatusOr<FailJobOutcome> RemoteWorkerApi::FailJob(JobId id, int64_t lease_token,
                                                        std::string error, bool retry) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (error.size() > kMaxErrorBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("error: at most %d bytes, got %d", kMaxErrorBytes, error.size()));
  }
  if (error.empty()) error = "failed (the remote worker gave no error message)";
  // The decision needs the attempt count and the job's own backoff. The read
  // is not fenced by itself; the write below is, so a lease lost in between
  // is still refused.
  auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
  if (!job.ok()) return job.status();
  if (job->state != JobState::kRunning || job->lease_token != lease_token) {
    return LeaseLost(*job, lease_token);
  }
  absl::Time now = impl.Now();
  const core::FailureDecision d = core::DecideFailure(
      impl.config().worker.retry, *job, job->cancel_requested, retry, now);
  FailJobOutcome outcome;
  outcome.state = d.to;
  if (d.to == JobState::kRetryable) outcome.next_run_at = d.run_at;
  store::JobFailManyParams params{.now = now};
  params.items.push_back(store::JobFailItem{
      .id = id,
      .lease_token = lease_token,
      .to = outcome.state,
      .run_at = outcome.state == JobState::kRetryable ? outcome.next_run_at : now,
      .error = std::move(error)});
  auto done = impl.store()->JobFailMany(params);
  if (!done.ok()) return done.status();
  if (done->empty()) {
    auto again = impl.store()->JobGet(store::JobGetParams{.id = id});
    if (!again.ok()) return again.status();
    return LeaseLost(*again, lease_token);
  }
  return outcome;
}

absl::StatusOr<RemoteHeartbeatResult> RemoteWorkerApi::Heartbeat(
    const std::vector<RemoteHeartbeatItem>& items, absl::Duration lease) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (items.empty() || items.size() > kMaxBatch) {
    return absl::InvalidArgumentError(
        absl::StrFormat("items: must hold 1-%d jobs, got %d", kMaxBatch, items.size()));
  }
  auto length = LeaseOrDefault(lease, impl.config());
  if (!length.ok()) return length.status();
  store::JobHeartbeatManyParams params{.now = impl.Now(), .lease = *length};
  params.items.reserve(items.size());
  for (const RemoteHeartbeatItem& item : items) {
    std::optional<int> progress;
    if (item.progress) progress = std::clamp(*item.progress, 0, 100);
    params.items.push_back(store::JobHeartbeatItem{
        .id = item.id, .lease_token = item.lease_token, .progress = progress});
  }
  // Past its timeout: the worker is told to stop, and the job shows it (the
  // stop request rides on this heartbeat). The timeout counts from the claim
  // (picked_at), as for local workers; one read per job.
  const absl::Time now = params.now;
  for (store::JobHeartbeatItem& item : params.items) {
    auto job = impl.store()->JobGet(store::JobGetParams{.id = item.id});
    if (!job.ok() || job->state != JobState::kRunning ||
        job->lease_token != item.lease_token || !job->picked_at) {
      continue;  // the heartbeat below reports it lost
    }
    const absl::Duration timeout =
        job->timeout > absl::ZeroDuration() ? job->timeout : impl.config().worker.default_timeout;
    const absl::Time deadline = *job->picked_at + timeout;
    if (job->stopping) {
      item.stopping = job->stopping;  // reported once: keep since-when
    } else if (now >= deadline) {
      item.stopping = JobStopping{.reason = "timeout", .since = deadline};
    } else if (job->cancel_requested) {
      item.stopping = JobStopping{.reason = "cancel", .since = now};
    }
    if (item.stopping && !item.stopping->overdue &&
        now >= item.stopping->since + impl.config().worker.stop_grace) {
      item.stopping->overdue = true;
    }
  }
  auto beat = impl.store()->JobHeartbeatMany(params);
  if (!beat.ok()) return beat.status();
  RemoteHeartbeatResult result{.extended = std::move(beat->extended),
                               .cancel_requested = std::move(beat->cancel_requested)};
  std::set<JobId> held(result.extended.begin(), result.extended.end());
  for (const RemoteHeartbeatItem& item : items) {
    if (!held.count(item.id)) result.lost.push_back(item.id);
  }
  for (const store::JobHeartbeatItem& item : params.items) {
    if (item.stopping && held.count(item.id)) result.stop.push_back(item.id);
  }
  return result;
}

}  // namespace popqueue
