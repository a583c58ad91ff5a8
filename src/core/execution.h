// One attempt of a job running in this process, and the set of them.
//
// An Execution is shared by the executor thread running its handler, the
// heartbeater (lease extension, timeouts, cancellation) and the completer
// (the batched write of its outcome). Exactly one outcome is recorded per
// attempt: whoever flips `finalized` first (the handler's return, a timeout
// or a shutdown release) writes it; later outcomes are discarded.
#ifndef POPQUEUE_CORE_EXECUTION_H_
#define POPQUEUE_CORE_EXECUTION_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
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

struct Execution {
  explicit Execution(Job j) : job(std::move(j)) {}

  Job job;  // as claimed; immutable after construction
  // Set once before the execution is shared, then read-only.
  absl::Time started_at;
  absl::Time deadline = absl::InfiniteFuture();  // started_at + timeout
  std::atomic<int> stop_reason{0};  // a StopReason
  std::atomic<int> progress{-1};    // -1 = not reported
  std::atomic<bool> finalized{false};

  // Claims the right to record the outcome; true for the first caller only.
  bool Finalize() { return !finalized.exchange(true); }
  void RequestStop(StopReason reason) {
    int none = 0;
    stop_reason.compare_exchange_strong(none, static_cast<int>(reason));
  }
  StopReason stop() const { return static_cast<StopReason>(stop_reason.load()); }
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
