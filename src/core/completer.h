// The completer: stores the outcomes of finished attempts in batches.
//
// Executor threads Add() an outcome and go on at once; a background thread
// flushes everything pending every `flush_interval` (or sooner when
// `max_batch` outcomes wait) as one JobCompleteMany and one JobFailMany call.
// When the store is unreachable it keeps the outcomes and retries with
// backoff; leases keep being extended by the heartbeater meanwhile because an
// attempt leaves the in-flight set only once its outcome is stored. Events
// are emitted after the write, so an event means the outcome is durable.
#ifndef POPQUEUE_CORE_COMPLETER_H_
#define POPQUEUE_CORE_COMPLETER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "core/execution.h"
#include "popqueue/clock.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::core {

struct Outcome {
  std::shared_ptr<Execution> exec;
  JobState to = JobState::kCompleted;  // completed, retryable, dead, cancelled,
                                       // or scheduled (snoozed)
  absl::Time run_at;                   // next attempt, for retryable/scheduled
  std::string error;                   // for every state but completed
  std::optional<std::string> result;   // for completed
  absl::Duration elapsed;
  bool released = false;  // a shutdown release (event kReleased)
};

class Completer {
 public:
  Completer(std::shared_ptr<store::Store> store, Clock* clock, InFlight* in_flight,
            absl::Duration flush_interval, int max_batch,
            std::function<void(const JobEvent&)> emit);
  ~Completer();

  void Start();
  // Thread-safe; never blocks on the store.
  void Add(Outcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  // Flushes what is pending, retrying for up to `deadline`, then stops.
  void Stop(absl::Duration deadline) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  // Writes `batch`; false (batch untouched) when the store failed.
  bool Flush(std::vector<Outcome>& batch);

  const std::shared_ptr<store::Store> store_;
  Clock* const clock_;
  InFlight* const in_flight_;
  const absl::Duration flush_interval_;
  const int max_batch_;
  const std::function<void(const JobEvent&)> emit_;

  Mutex mu_;
  std::vector<Outcome> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_COMPLETER_H_
