// RemoteWorkerApi: the claim/complete/fail/heartbeat steps of the worker
// runtime, one call at a time, for workers in other processes or languages.
//
// The decisions mirror the local runtime (runtime.cc Decide, heartbeater.cc)
// so that a job behaves the same whoever runs it: the same retry policy and
// attempt budget, cancellation winning over retry, and every change fenced
// by the lease token. The server-side state of remote workers (the jobs
// each holds, the limits, the registry, long-poll wake-ups) is the Queue's
// core::RemoteWorkers, shared by every RemoteWorkerApi of that Queue; the
// outcomes raise the Queue's job events like the local workers' do. A job
// past its timeout keeps its lease while its worker heartbeats it; the
// heartbeat answer tells the worker to stop (`stop`).
#include "popqueue/remote_worker.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/field_error.h"
#include "common/ids.h"
#include "common/log.h"
#include "core/queue_impl.h"
#include "core/remote_workers.h"
#include "core/retry_policy.h"
#include "store/store.h"

namespace popqueue {
namespace {

constexpr int kMaxBatch = 1000;
constexpr size_t kMaxErrorBytes = 64 << 10;
constexpr absl::Duration kMaxLease = absl::Hours(24);
constexpr absl::Duration kMaxSnooze = absl::Hours(24 * 366);

absl::StatusOr<absl::Duration> LeaseOrDefault(absl::Duration lease, const QueueConfig& config) {
  if (lease == absl::ZeroDuration()) return config.worker.lease;
  if (lease < absl::Seconds(1) || lease > kMaxLease) {
    return FieldError(
        "lease", absl::StrFormat("must be between 1s and %s, got %s",
                                 absl::FormatDuration(kMaxLease), absl::FormatDuration(lease)));
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

absl::Status ValidateWorkerId(const std::string& worker_id) {
  if (worker_id.empty()) return FieldError("worker_id", "required (the lease holder)");
  if (worker_id.size() > 255) return FieldError("worker_id", "at most 255 bytes");
  return absl::OkStatus();
}

// The attempt's run time as a remote worker reports it: from the claim.
absl::Duration Elapsed(const Job& job, absl::Time now) {
  return job.picked_at ? now - *job.picked_at : absl::ZeroDuration();
}

}  // namespace

absl::StatusOr<std::vector<Job>> RemoteWorkerApi::FetchJobs(const FetchJobsParams& params) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (absl::Status s = ValidateWorkerId(params.worker_id); !s.ok()) return s;
  if (params.limit < 1 || params.limit > kMaxBatch) {
    return FieldError("limit", absl::StrFormat("must be 1-%d, got %d", kMaxBatch, params.limit));
  }
  if (params.wait < absl::ZeroDuration()) return FieldError("wait", "must not be negative");
  auto lease = LeaseOrDefault(params.lease, impl.config());
  if (!lease.ok()) return lease.status();
  std::vector<std::string> queues = params.queues;
  if (queues.empty()) queues.push_back(kDefaultQueue);
  std::shared_ptr<core::RemoteWorkers> remote = impl.remote_workers();
  // Long-poll: claim, and when nothing was due wait for a notification of
  // one of the queues (or a poll interval: jobs that become due by time
  // notify nobody), then claim again, until the deadline. Real time.
  const absl::Time deadline = absl::Now() + std::min(params.wait, options_.max_wait);
  std::vector<Job> jobs;
  while (true) {
    core::RemoteWorkers::Snapshot seen = remote->Take(queues);
    auto claimed = ClaimOnce(params, queues, *lease);
    if (!claimed.ok()) return claimed.status();
    jobs = std::move(*claimed);
    // Registered (when due: Touch throttles) with the jobs just claimed
    // counted, and again while it waits, so a worker long-polling for longer
    // than the registry's ttl stays listed.
    TouchRegistry(params.worker_id, params.address, queues);
    const absl::Time now = absl::Now();
    if (!jobs.empty() || now >= deadline || stopping_.load() || remote->stopping() ||
        (params.cancelled && params.cancelled())) {
      break;
    }
    remote->Wait(queues, seen, std::min(deadline, now + impl.config().worker.poll_interval));
  }
  if (!jobs.empty() && impl.has_listeners()) {
    for (const Job& job : jobs) impl.Emit(JobEvent{.kind = JobEvent::Kind::kStarted, .job = job});
  }
  return jobs;
}

absl::StatusOr<std::vector<Job>> RemoteWorkerApi::ClaimOnce(const FetchJobsParams& params,
                                                            const std::vector<std::string>& queues,
                                                            absl::Duration lease) {
  Queue::Impl& impl = *queue_.impl_;
  std::shared_ptr<core::RemoteWorkers> remote = impl.remote_workers();
  auto claim = [&](const std::vector<std::string>& from, int limit) {
    return impl.store()->JobClaim(store::JobClaimParams{.queues = from,
                                                        .worker_id = params.worker_id,
                                                        .limit = limit,
                                                        .now = impl.Now(),
                                                        .lease = lease,
                                                        .lease_token = RandomToken()});
  };
  if (!remote->limited()) {
    auto jobs = claim(queues, params.limit);
    if (jobs.ok()) remote->Claimed(params.worker_id, *jobs);
    return jobs;
  }
  // Limits are per queue: claim queue by queue, each for what it allows.
  std::vector<Job> out;
  for (const std::string& queue : queues) {
    const int want = params.limit - static_cast<int>(out.size());
    if (want <= 0) break;
    auto jobs = remote->ClaimLimited(params.worker_id, queue, want,
                                     [&](int n) { return claim({queue}, n); });
    if (!jobs.ok()) {
      if (out.empty()) return jobs.status();
      break;  // those already claimed are leased: hand them out
    }
    for (Job& job : *jobs) out.push_back(std::move(job));
  }
  return out;
}

void RemoteWorkerApi::TouchRegistry(const std::string& worker, const std::string& address,
                                    const std::vector<std::string>& queues) {
  Queue::Impl& impl = *queue_.impl_;
  std::optional<WorkerInfo> entry =
      impl.remote_workers()->Touch(worker, address, queues, /*force=*/false);
  if (!entry) return;
  // Best effort: the registry is for people; the fetch goes on without it.
  if (absl::Status s = impl.RegistryUpsert(*entry); !s.ok()) {
    Logf(LogLevel::kWarn, "registering remote worker %s failed: %s", worker,
         std::string(s.message()));
  }
}

absl::Status RemoteWorkerApi::RegisterWorker(const RemoteWorkerRegistration& r) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (absl::Status s = ValidateWorkerId(r.worker_id); !s.ok()) return s;
  if (r.host.size() > 255) return FieldError("host", "at most 255 bytes");
  if (r.pid < 0) return FieldError("pid", "must not be negative");
  if (r.queues.size() > 1000) return FieldError("queues", "at most 1000 queues");
  WorkerInfo info{.host = r.host, .pid = r.pid};
  std::vector<std::string> queues = r.queues;
  if (queues.empty()) queues.push_back(kDefaultQueue);
  std::optional<WorkerInfo> entry =
      impl.remote_workers()->Touch(r.worker_id, r.address, queues, /*force=*/true, &info);
  return impl.RegistryUpsert(*entry);
}

absl::Status RemoteWorkerApi::DeregisterWorker(const std::string& worker_id) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (absl::Status s = ValidateWorkerId(worker_id); !s.ok()) return s;
  impl.remote_workers()->Forget(worker_id);
  return impl.RegistryRemove(worker_id);
}

void RemoteWorkerApi::StopWaiting() {
  stopping_.store(true);
  queue_.impl_->remote_workers()->WakeAll();  // they see stopping_ and return
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
  // A workflow parent releases its dependants in the same store call; the
  // held copy (or, once released, the stored job) says whether it has any.
  std::optional<Job> known = impl.remote_workers()->Find(id);
  if (!known) {
    auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
    if (job.ok()) known = std::move(*job);
  }
  store::JobCompleteManyParams params{.now = impl.Now()};
  params.items.push_back(
      store::JobCompleteItem{.id = id,
                             .lease_token = lease_token,
                             .result = std::move(result),
                             .has_dependants = known && !known->dependants.empty()});
  auto done = impl.store()->JobCompleteMany(params);
  if (!done.ok()) return done.status();
  if (!done->empty()) {
    std::optional<Job> held = impl.remote_workers()->Release(id);
    if (impl.has_listeners()) {
      if (!held) {
        auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
        if (job.ok()) held = std::move(*job);
      }
      if (held) {
        impl.Emit(JobEvent{.kind = JobEvent::Kind::kCompleted,
                           .job = *held,
                           .elapsed = Elapsed(*held, params.now)});
      }
    }
    return absl::OkStatus();
  }
  // Refused: say why (unknown job, finished, or another lease).
  auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
  if (!job.ok()) return job.status();
  return LeaseLost(*job, lease_token);
}

absl::StatusOr<FailJobOutcome> RemoteWorkerApi::FailJob(JobId id, int64_t lease_token,
                                                        std::string error, bool retry) {
  if (error.size() > kMaxErrorBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("error: at most %d bytes, got %d", kMaxErrorBytes, error.size()));
  }
  if (error.empty()) error = "failed (the remote worker gave no error message)";
  return EndAttempt(
      id, lease_token, std::move(error),
      {.outcome = retry ? HandlerOutcome::kFailure : HandlerOutcome::kFailWithoutRetry});
}

absl::StatusOr<FailJobOutcome> RemoteWorkerApi::SnoozeJob(JobId id, int64_t lease_token,
                                                          absl::Duration delay) {
  if (delay < absl::ZeroDuration() || delay > kMaxSnooze) {
    return FieldError(
        "snooze", absl::StrFormat("must be between 0s and %s, got %s",
                                  absl::FormatDuration(kMaxSnooze), absl::FormatDuration(delay)));
  }
  return EndAttempt(id, lease_token, std::string(Snooze(delay).message()),
                    {.outcome = HandlerOutcome::kSnooze, .snooze = delay});
}

absl::StatusOr<FailJobOutcome> RemoteWorkerApi::DiscardJob(JobId id, int64_t lease_token,
                                                           std::string reason) {
  if (reason.size() > kMaxErrorBytes) {
    return FieldError("reason",
                      absl::StrFormat("at most %d bytes, got %d", kMaxErrorBytes, reason.size()));
  }
  return EndAttempt(id, lease_token, std::string(Discard(reason).message()),
                    {.outcome = HandlerOutcome::kDiscard});
}

absl::StatusOr<FailJobOutcome> RemoteWorkerApi::EndAttempt(JobId id, int64_t lease_token,
                                                           std::string error,
                                                           const ParsedOutcome& handler_outcome) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  // The decision needs the attempt count and the job's own backoff. The read
  // is not fenced by itself; the write below is, so a lease lost in between
  // is still refused.
  auto job = impl.store()->JobGet(store::JobGetParams{.id = id});
  if (!job.ok()) return job.status();
  if (job->state != JobState::kRunning || job->lease_token != lease_token) {
    return LeaseLost(*job, lease_token);
  }
  absl::Time now = impl.Now();
  const core::FailureDecision d = core::DecideFailure(impl.config().worker.retry, *job,
                                                      job->cancel_requested, handler_outcome, now);
  FailJobOutcome outcome;
  outcome.state = d.to;
  const bool waits = d.to == JobState::kRetryable || d.to == JobState::kScheduled;
  if (waits) outcome.next_run_at = d.run_at;
  store::JobFailManyParams params{.now = now};
  params.items.push_back(store::JobFailItem{.id = id,
                                            .lease_token = lease_token,
                                            .to = outcome.state,
                                            .run_at = waits ? outcome.next_run_at : now,
                                            .error = std::move(error),
                                            .has_dependants = !job->dependants.empty()});
  auto done = impl.store()->JobFailMany(params);
  if (!done.ok()) return done.status();
  if (done->empty()) {
    auto again = impl.store()->JobGet(store::JobGetParams{.id = id});
    if (!again.ok()) return again.status();
    return LeaseLost(*again, lease_token);
  }
  impl.remote_workers()->Release(id);
  if (impl.has_listeners()) {
    const JobEvent::Kind kind = outcome.state == JobState::kDead        ? JobEvent::Kind::kDead
                                : outcome.state == JobState::kCancelled ? JobEvent::Kind::kCancelled
                                : outcome.state == JobState::kScheduled ? JobEvent::Kind::kSnoozed
                                                                        : JobEvent::Kind::kRetrying;
    impl.Emit(JobEvent{.kind = kind,
                       .job = *job,
                       .error = params.items[0].error,
                       .elapsed = Elapsed(*job, now),
                       .next_run_at = outcome.next_run_at});
  }
  return outcome;
}

absl::StatusOr<RemoteHeartbeatResult> RemoteWorkerApi::Heartbeat(
    const std::vector<RemoteHeartbeatItem>& items, absl::Duration lease,
    const std::string& worker_id, const std::string& address) {
  Queue::Impl& impl = *queue_.impl_;
  if (!impl.status().ok()) return impl.status();
  if (!worker_id.empty()) {
    if (absl::Status s = ValidateWorkerId(worker_id); !s.ok()) return s;
  }
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
  // stop request rides on this heartbeat, since = picked_at + timeout, the
  // same on every beat). The timeout counts from the claim. The job's record
  // is the one kept when it was fetched here; one read when this server did
  // not hand it out.
  const absl::Time now = params.now;
  for (store::JobHeartbeatItem& item : params.items) {
    std::optional<Job> job = impl.remote_workers()->Find(item.id);
    if (!job || job->lease_token != item.lease_token) {
      auto read = impl.store()->JobGet(store::JobGetParams{.id = item.id});
      if (!read.ok()) continue;  // the heartbeat below reports it lost, or fails
      job = *std::move(read);
    }
    if (job->state != JobState::kRunning || job->lease_token != item.lease_token ||
        !job->picked_at) {
      continue;
    }
    const absl::Duration timeout =
        job->timeout > absl::ZeroDuration() ? job->timeout : impl.config().worker.default_timeout;
    const absl::Time deadline = *job->picked_at + timeout;
    if (now < deadline) continue;
    item.stopping = JobStopping{.reason = "timeout",
                                .since = deadline,
                                .overdue = now >= deadline + impl.config().worker.stop_grace};
  }
  auto beat = impl.store()->JobHeartbeatMany(params);
  if (!beat.ok()) return beat.status();
  RemoteHeartbeatResult result{.extended = std::move(beat->extended),
                               .cancel_requested = std::move(beat->cancel_requested)};
  std::set<JobId> held(result.extended.begin(), result.extended.end());
  for (const RemoteHeartbeatItem& item : items) {
    if (!held.count(item.id)) result.lost.push_back(item.id);
  }
  std::shared_ptr<core::RemoteWorkers> remote = impl.remote_workers();
  for (JobId id : result.lost) remote->Release(id);
  std::set<JobId> stop(result.cancel_requested.begin(), result.cancel_requested.end());
  for (const store::JobHeartbeatItem& item : params.items) {
    if (item.stopping && held.count(item.id)) stop.insert(item.id);
  }
  for (const RemoteHeartbeatItem& item : items) {
    if (stop.erase(item.id)) result.stop.push_back(item.id);
  }
  if (!worker_id.empty()) {
    remote->Beat(worker_id, result.extended, *length);
    TouchRegistry(worker_id, address, {});
  }
  return result;
}

}  // namespace popqueue
