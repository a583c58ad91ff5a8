#include "core/heartbeater.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {

Heartbeater::Heartbeater(
    std::shared_ptr<store::Store> store, Clock* clock, InFlight* in_flight,
    const WorkerOptions& options, std::string worker_id,
    std::function<void(std::shared_ptr<Execution>)> on_timeout,
    bool store_registry)
    : store_(std::move(store)),
      clock_(clock),
      in_flight_(in_flight),
      // Beat at least three times per lease so one lost beat never loses it.
      interval_(std::min(options.heartbeat_interval, options.lease / 3)),
      lease_(options.lease),
      worker_id_(std::move(worker_id)),
      on_timeout_(std::move(on_timeout)),
      store_registry_(store_registry) {}

Heartbeater::~Heartbeater() { Stop(); }

void Heartbeater::Start() { thread_ = StartThread([this] { Loop(); }); }

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
    absl::Duration wait = std::clamp(
        std::min(next_beat - absl::Now(), until_deadline), absl::ZeroDuration(),
        absl::Milliseconds(100));
    {
      MutexLock lock(&mu_);
      auto cond = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || woken_;
      };
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
  for (const auto& e : in_flight_->Snapshot()) {
    if (e->finalized.load()) continue;
    if (now >= e->deadline) {
      e->RequestStop(StopReason::kTimeout);
      if (e->Finalize()) on_timeout_(e);
    } else {
      earliest = std::min(earliest, e->deadline);
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
    params.items.push_back(store::JobHeartbeatItem{
        .id = e->job.id,
        .lease_token = e->job.lease_token,
        .progress = progress >= 0 ? std::optional<int>(progress) : std::nullopt});
  }
  if (!params.items.empty()) {
    auto result = store_->JobHeartbeatMany(params);
    if (!result.ok()) {
      Logf(LogLevel::kWarn, "heartbeat of %d jobs failed: %s",
           static_cast<int>(params.items.size()), std::string(result.status().message()));
    } else {
      std::set<JobId> extended(result->extended.begin(), result->extended.end());
      std::set<JobId> cancel(result->cancel_requested.begin(),
                             result->cancel_requested.end());
      for (const auto& e : execs) {
        if (cancel.count(e->job.id)) e->RequestStop(StopReason::kCancelRequested);
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
          .worker_id = worker_id_,
          .running = static_cast<int>(execs.size()),
          .now = now});
      !s.ok()) {
    Logf(LogLevel::kDebug, "worker heartbeat failed: %s", std::string(s.message()));
  }
}

}  // namespace popqueue::core
