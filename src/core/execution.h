// One attempt of a job running in this process, and the set of them.
//
// An Execution is shared by the executor thread running its handler, the
// heartbeater (lease extension, timeouts, cancellation) and the completer
// (the batched write of its outcome). Exactly one outcome is recorded per
// attempt: whoever flips `finalized` first (the handler's return, a lost
// lease or a shutdown release) writes it; later outcomes are discarded.
//
// A timeout or a cancel does not finalize: it asks the handler to stop
// (RequestStop) and the attempt keeps its lease, heartbeated like any other,
// until the handler has returned. Only then is the outcome recorded and the
// retry made available, so a job never runs beside its own retry. A handler
// still running `stop_grace` after the request is overdue: reported, its slot
// stays busy, and at shutdown it is released (the only case where a retry may
// start while the old handler, which ignores every request, still runs).
#ifndef POPQUEUE_CORE_EXECUTION_H_
#define POPQUEUE_CORE_EXECUTION_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "popqueue/job.h"

namespace popqueue::core {

enum class StopReason : int {
  kNone = 0,
  kCancelRequested,  // Cancel() was called for the job
  kTimeout,          // the handler ran past its timeout
  kLeaseLost,        // another worker may own the job now
  kShutdown,         // the process stopped past its drain deadline
};

// The stored spelling of a stop request (JobStopping::reason).
inline std::string_view StopReasonName(StopReason r) {
  switch (r) {
    case StopReason::kCancelRequested: return "cancel";
    case StopReason::kTimeout: return "timeout";
    case StopReason::kLeaseLost: return "lease_lost";
    case StopReason::kShutdown: return "shutdown";
    case StopReason::kNone: break;
  }
  return "";
}

struct Execution {
  explicit Execution(Job j) : job(std::move(j)) {}

  Job job;  // as claimed; immutable after construction
  // Set once before the execution is shared, then read-only.
  absl::Time started_at;
  absl::Time deadline = absl::InfiniteFuture();  // started_at + timeout
  // A job claimed ahead or held for a rate limit has not started yet.
  bool started() const { return deadline != absl::InfiniteFuture(); }
  std::atomic<int> stop_reason{0};  // a StopReason
  std::atomic<int> progress{-1};    // -1 = not reported
  std::atomic<bool> finalized{false};
  // When the first stop request came (the queue's clock, Unix microseconds;
  // 0 = none), and by when the handler must have returned (real time, Unix
  // microseconds; the exec handler SIGKILLs its command just before).
  std::atomic<int64_t> stopping_since_us{0};
  std::atomic<int64_t> return_by_us{INT64_MAX};
  // Still running past return_by: reported once (log, metric, the job).
  std::atomic<bool> overdue{false};

  // Claims the right to record the outcome; true for the first caller only.
  bool Finalize() { return !finalized.exchange(true); }
  // The first reason wins. `now` is the queue's clock; `grace` how long the
  // handler has to return. A later request may only bring return_by closer.
  void RequestStop(StopReason reason, absl::Time now = absl::Now(),
                   absl::Duration grace = absl::InfiniteDuration()) {
    int none = 0;
    if (stop_reason.compare_exchange_strong(none, static_cast<int>(reason))) {
      stopping_since_us.store(absl::ToUnixMicros(now));
    }
    if (grace != absl::InfiniteDuration()) ReturnBy(absl::Now() + grace);
  }
  void ReturnBy(absl::Time t) {
    int64_t us = absl::ToUnixMicros(t);
    int64_t cur = return_by_us.load();
    while (us < cur && !return_by_us.compare_exchange_weak(cur, us)) {
    }
  }
  StopReason stop() const { return static_cast<StopReason>(stop_reason.load()); }
  std::optional<absl::Time> stopping_since() const {
    int64_t us = stopping_since_us.load();
    if (us == 0) return std::nullopt;
    return absl::FromUnixMicros(us);
  }
  absl::Time return_by() const {
    int64_t us = return_by_us.load();
    return us == INT64_MAX ? absl::InfiniteFuture() : absl::FromUnixMicros(us);
  }
};

// The attempts in flight in this process, until their outcome is stored.
class InFlight {
 public:
  void Add(std::shared_ptr<Execution> e) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    by_id_[e->job.id] = std::move(e);
  }
  void Remove(JobId id) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    by_id_.erase(id);
  }
  std::shared_ptr<Execution> Find(JobId id) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  }
  std::vector<std::shared_ptr<Execution>> Snapshot() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    std::vector<std::shared_ptr<Execution>> out;
    out.reserve(by_id_.size());
    for (const auto& [id, e] : by_id_) out.push_back(e);
    return out;
  }
  size_t size() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return by_id_.size();
  }

 private:
  Mutex mu_;
  std::map<JobId, std::shared_ptr<Execution>> by_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_EXECUTION_H_
