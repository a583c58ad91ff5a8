// Slot accounting of one process: how many jobs each queue may run at once,
// and how many may run across all queues (the global cap, lowered at times by
// resource-aware concurrency).
//
// The fetcher asks FreeSlots() how many jobs to claim per queue. When the
// global cap is the binding limit, free slots are dealt one at a time across
// the queues that want them, queues that last had more work first, starting
// from a rotating position, so no queue is starved by another that happens to
// sort first.
//
// Thread-safety: none; the Runtime guards it with its mutex.
#ifndef POPQUEUE_CORE_CONCURRENCY_LIMITER_H_
#define POPQUEUE_CORE_CONCURRENCY_LIMITER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "popqueue/options.h"

namespace popqueue::core {

// Checks max_concurrency, the rate limits, max_held_jobs and the resource
// options; kInvalidArgument naming the option and what was expected.
absl::Status ValidateLimits(const WorkerOptions& options);

class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(const WorkerOptions& options);

  // The queues worked, sorted.
  std::vector<std::string> queues() const;
  bool Has(const std::string& queue) const { return queues_.count(queue) > 0; }

  // Jobs to claim per queue now (only queues with at least one free slot).
  std::vector<std::pair<std::string, int>> FreeSlots();

  // `n` jobs of `queue` started running / one finished.
  void Acquire(const std::string& queue, int n);
  void Release(const std::string& queue);
  // Records whether the last claim of `queue` filled every slot asked for
  // (the queue probably has more work).
  void SetMore(const std::string& queue, bool more);

  // True when some queue that had more work could claim now.
  bool ShouldFetchAgain() const;
  // True when a job of `queue` could start now.
  bool CanStart(const std::string& queue) const;

  // The global cap from the options (max_concurrency, or the sum of the
  // per-queue limits): the most executor threads ever needed.
  int configured() const { return configured_; }
  // The cap in force now (<= configured()).
  int limit() const { return limit_; }
  void SetLimit(int limit);
  int busy() const { return busy_; }
  int busy(const std::string& queue) const;
  int limit(const std::string& queue) const;  // 0 for a queue not worked here

 private:
  struct Queue {
    int limit = 0;
    int busy = 0;
    bool more = false;
  };
  int GlobalFree() const { return limit_ > busy_ ? limit_ - busy_ : 0; }

  std::map<std::string, Queue> queues_;
  int configured_ = 0;
  int limit_ = 0;
  int busy_ = 0;
  size_t rotate_ = 0;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_CONCURRENCY_LIMITER_H_
