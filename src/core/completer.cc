#include "core/completer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/thread.h"

namespace popqueue::core {

Completer::Completer(std::shared_ptr<store::Store> store, Clock* clock, InFlight* in_flight,
                     absl::Duration flush_interval, int max_batch,
                     std::function<void(const JobEvent&)> emit)
    : store_(std::move(store)),
      clock_(clock),
      in_flight_(in_flight),
      flush_interval_(flush_interval),
      max_batch_(std::max(1, max_batch)),
      emit_(std::move(emit)) {}

Completer::~Completer() {
  if (thread_.joinable()) Stop(absl::ZeroDuration());
}

void Completer::Start() {
  thread_ = StartThread([this] { Loop(); });
}

void Completer::Add(Outcome outcome) {
  MutexLock lock(&mu_);
  pending_.push_back(std::move(outcome));
}

void Completer::Stop(absl::Duration deadline) {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_deadline_ = absl::Now() + deadline;
  }
  if (thread_.joinable()) thread_.join();
}

void Completer::Loop() {
  absl::Duration backoff = absl::Milliseconds(50);
  std::vector<Outcome> batch;
  while (true) {
    bool stopping;
    absl::Time stop_deadline;
    {
      MutexLock lock(&mu_);
      // Wait for a full batch, the flush interval, or stop.
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || static_cast<int>(pending_.size()) >= max_batch_;
      };
      if (batch.empty()) {
        // Sleep while idle; once something is pending, give it
        // `flush_interval_` to gather company into one write.
        auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || !pending_.empty();
        };
        mu_.Await(absl::Condition(&any));
        mu_.AwaitWithTimeout(absl::Condition(&ready), flush_interval_);
      }
      size_t room = max_batch_ - std::min<size_t>(max_batch_, batch.size());
      size_t take = std::min(room, pending_.size());
      std::move(pending_.begin(), pending_.begin() + take, std::back_inserter(batch));
      pending_.erase(pending_.begin(), pending_.begin() + take);
      stopping = stopping_;
      stop_deadline = stop_deadline_;
      if (stopping && batch.empty() && pending_.empty()) return;
    }
    if (batch.empty()) continue;
    if (Flush(batch)) {
      batch.clear();
      backoff = absl::Milliseconds(50);
      continue;
    }
    if (stopping && absl::Now() >= stop_deadline) {
      MutexLock lock(&mu_);
      Logf(LogLevel::kError,
           "completer: gave up storing %d job outcomes at shutdown; their "
           "leases will expire and the jobs will be retried",
           static_cast<int>(batch.size() + pending_.size()));
      return;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

bool Completer::Flush(std::vector<Outcome>& batch) {
  absl::Time now = clock_->Now();
  store::JobCompleteManyParams complete{.now = now};
  store::JobFailManyParams fail{.now = now};
  for (const Outcome& o : batch) {
    const Job& job = o.exec->job;
    if (o.to == JobState::kCompleted) {
      complete.items.push_back(store::JobCompleteItem{.id = job.id,
                                                      .lease_token = job.lease_token,
                                                      .result = o.result,
                                                      .has_dependants = !job.dependants.empty()});
    } else {
      fail.items.push_back(store::JobFailItem{.id = job.id,
                                              .lease_token = job.lease_token,
                                              .to = o.to,
                                              .run_at = o.run_at,
                                              .error = o.error,
                                              .has_dependants = !job.dependants.empty()});
    }
  }
  std::set<JobId> stored;
  if (!complete.items.empty()) {
    auto done = store_->JobCompleteMany(complete);
    if (!done.ok()) {
      Logf(LogLevel::kWarn, "completer: storing %d completions failed: %s",
           static_cast<int>(complete.items.size()), std::string(done.status().message()));
      return false;
    }
    stored.insert(done->begin(), done->end());
    // Completions are stored: drop them so a retry of the failures below does
    // not write them twice.
    std::erase_if(batch, [&](const Outcome& o) {
      if (o.to != JobState::kCompleted) return false;
      bool ok = stored.count(o.exec->job.id) > 0;
      in_flight_->Remove(o.exec->job.id);
      if (!ok) {
        Logf(LogLevel::kWarn, "%s: lease lost before completion was stored", JobTag(o.exec->job));
      } else if (emit_) {
        emit_(
            JobEvent{.kind = JobEvent::Kind::kCompleted, .job = o.exec->job, .elapsed = o.elapsed});
      }
      return true;
    });
  }
  if (!fail.items.empty()) {
    auto done = store_->JobFailMany(fail);
    if (!done.ok()) {
      Logf(LogLevel::kWarn, "completer: storing %d failures failed: %s",
           static_cast<int>(fail.items.size()), std::string(done.status().message()));
      return false;
    }
    stored.insert(done->begin(), done->end());
  }
  for (const Outcome& o : batch) {
    in_flight_->Remove(o.exec->job.id);
    if (stored.count(o.exec->job.id) == 0) {
      Logf(LogLevel::kWarn, "%s: lease lost before its outcome was stored", JobTag(o.exec->job));
      continue;
    }
    if (!o.released && (o.to == JobState::kRetryable || o.to == JobState::kDead)) {
      Logf(LogLevel::kInfo, "%s (%s) attempt %d of %d failed%s: %s", JobTag(o.exec->job),
           o.exec->job.name, o.exec->job.attempt, o.exec->job.max_attempts,
           o.to == JobState::kDead ? ", dead" : ", will retry", o.error);
    }
    if (!emit_) continue;
    JobEvent::Kind kind = JobEvent::Kind::kCompleted;
    if (o.released) {
      kind = JobEvent::Kind::kReleased;
    } else if (o.to == JobState::kRetryable) {
      kind = JobEvent::Kind::kRetrying;
    } else if (o.to == JobState::kScheduled) {
      kind = JobEvent::Kind::kSnoozed;
    } else if (o.to == JobState::kDead) {
      kind = JobEvent::Kind::kDead;
    } else if (o.to == JobState::kCancelled) {
      kind = JobEvent::Kind::kCancelled;
    }
    emit_(JobEvent{.kind = kind,
                   .job = o.exec->job,
                   .error = o.error,
                   .elapsed = o.elapsed,
                   .next_run_at = o.run_at});
  }
  return true;
}

}  // namespace popqueue::core
