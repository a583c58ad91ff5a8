#include "core/heartbeater.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {

Heartbeater::Heartbeater(std::shared_ptr<store::Store> store, Clock* clock, InFlight* in_flight,
                         const WorkerOptions& options, std::string worker_id,
                         std::function<void(const std::shared_ptr<Execution>&)> on_overdue,
                         bool store_registry)
    : store_(std::move(store)),
      clock_(clock),
      in_flight_(in_flight),
      // Beat at least three times per lease so one lost beat never loses it.
      interval_(std::min(options.heartbeat_interval, options.lease / 3)),
      lease_(options.lease),
      stop_grace_(options.stop_grace),
      worker_id_(std::move(worker_id)),
      on_overdue_(std::move(on_overdue)),
      store_registry_(store_registry) {}

Heartbeater::~Heartbeater() { Stop(); }

void Heartbeater::Start() {
  thread_ = StartThread([this] { Loop(); });
}

void Heartbeater::Wake() {
  MutexLock lock(&mu_);
  woken_ = true;
}

void Heartbeater::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Heartbeater::Loop() {
  absl::Time next_beat = absl::Now();  // beat at once: the registry shows us
  while (true) {
    absl::Time earliest = EnforceTimeouts(clock_->Now());
    // Deadlines are in the injected clock's time; wait in real time, at most
    // 100 ms so an injected clock that jumps is noticed promptly.
    absl::Duration until_deadline = earliest - clock_->Now();
    absl::Duration wait = std::clamp(std::min(next_beat - absl::Now(), until_deadline),
                                     absl::ZeroDuration(), absl::Milliseconds(100));
    {
      MutexLock lock(&mu_);
      auto cond = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || woken_; };
      mu_.AwaitWithTimeout(absl::Condition(&cond), wait);
      if (stopping_) return;
      woken_ = false;
    }
    if (absl::Now() >= next_beat) {
      Beat();
      next_beat = absl::Now() + interval_;
    }
  }
}

absl::Time Heartbeater::EnforceTimeouts(absl::Time now) {
  absl::Time earliest = absl::InfiniteFuture();
  const absl::Time real_now = absl::Now();
  for (const auto& e : in_flight_->Snapshot()) {
    if (e->finalized.load() || !e->started()) continue;
    if (e->stop() == StopReason::kNone) {
      if (now < e->deadline) {
        earliest = std::min(earliest, e->deadline);
        continue;
      }
      e->RequestStop(StopReason::kTimeout, now, stop_grace_);
      Logf(LogLevel::kInfo, "%s: timed out after %s; asked the handler to stop", JobTag(e->job),
           absl::FormatDuration(e->deadline - e->started_at));
    }
    if (e->overdue.load()) continue;
    // return_by is real time; wait for it in the injected clock's terms.
    const absl::Time return_by = e->return_by();
    if (real_now >= return_by) {
      if (!e->overdue.exchange(true)) on_overdue_(e);
    } else if (return_by != absl::InfiniteFuture()) {
      earliest = std::min(earliest, now + (return_by - real_now));
    }
  }
  return earliest;
}

void Heartbeater::Beat() {
  absl::Time now = clock_->Now();
  store::JobHeartbeatManyParams params{.now = now, .lease = lease_};
  std::vector<std::shared_ptr<Execution>> execs = in_flight_->Snapshot();
  for (const auto& e : execs) {
    int progress = e->progress.load();
    store::JobHeartbeatItem item{
        .id = e->job.id,
        .lease_token = e->job.lease_token,
        .progress = progress >= 0 ? std::optional<int>(progress) : std::nullopt};
    if (std::optional<absl::Time> since = e->stopping_since()) {
      item.stopping = JobStopping{.reason = std::string(StopReasonName(e->stop())),
                                  .since = *since,
                                  .overdue = e->overdue.load()};
    }
    params.items.push_back(std::move(item));
  }
  if (!params.items.empty()) {
    auto result = store_->JobHeartbeatMany(params);
    if (!result.ok()) {
      Logf(LogLevel::kWarn, "heartbeat of %d jobs failed: %s",
           static_cast<int>(params.items.size()), std::string(result.status().message()));
    } else {
      std::set<JobId> extended(result->extended.begin(), result->extended.end());
      std::set<JobId> cancel(result->cancel_requested.begin(), result->cancel_requested.end());
      for (const auto& e : execs) {
        if (cancel.count(e->job.id)) {
          e->RequestStop(StopReason::kCancelRequested, now, stop_grace_);
        }
        // An outcome already queued but not yet stored is expected to be
        // refused by the store too; only live attempts lose their lease here.
        if (!extended.count(e->job.id) && !e->finalized.load()) {
          e->RequestStop(StopReason::kLeaseLost);
          if (e->Finalize()) {
            Logf(LogLevel::kWarn,
                 "job %d: lease lost (expired and rescued?); its outcome "
                 "will be discarded",
                 e->job.id);
            in_flight_->Remove(e->job.id);
          }
        }
      }
    }
  }
  if (!store_registry_) return;
  if (absl::Status s = store_->WorkerHeartbeat(store::WorkerHeartbeatParams{
          .worker_id = worker_id_, .running = static_cast<int>(execs.size()), .now = now});
      !s.ok()) {
    Logf(LogLevel::kDebug, "worker heartbeat failed: %s", std::string(s.message()));
  }
}

}  // namespace popqueue::core
