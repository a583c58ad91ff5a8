// The heartbeater: keeps this process's leases alive and enforces timeouts.
//
// Every heartbeat interval it extends the lease of every attempt in flight in
// one JobHeartbeatMany call (with progress, and for attempts asked to stop
// why and since when, so the job shows it everywhere). Attempts whose lease
// the store no longer recognises are told to stop (kLeaseLost) and their
// outcome is dropped: another worker may own the job now. Attempts for which
// Cancel() was called are told to stop (kCancelRequested). Between heartbeats
// it wakes at the earliest handler deadline and tells that handler to stop
// (kTimeout); the attempt keeps its lease until the handler returns, and only
// then is its failure recorded (execution.h). A handler still running
// stop_grace after a stop request is reported overdue, once.
// It also heartbeats this worker in the registry.
#ifndef POPQUEUE_CORE_HEARTBEATER_H_
#define POPQUEUE_CORE_HEARTBEATER_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "core/completer.h"
#include "core/execution.h"
#include "popqueue/clock.h"
#include "popqueue/options.h"
#include "store/store.h"

namespace popqueue::core {

class Heartbeater {
 public:
  // `on_overdue(exec)` reports a handler past its hard limit (called once
  // per attempt). `store_registry`: also heartbeat the store's worker
  // registry (false when a shared coordinator keeps it).
  Heartbeater(std::shared_ptr<store::Store> store, Clock* clock, InFlight* in_flight,
              const WorkerOptions& options, std::string worker_id,
              std::function<void(const std::shared_ptr<Execution>&)> on_overdue,
              bool store_registry = true);
  ~Heartbeater();

  void Start();
  // Re-examines deadlines (a new attempt started).
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  void Beat();
  // Asks handlers past their deadline to stop and reports overdue ones.
  // Returns the earliest deadline among attempts still running.
  absl::Time EnforceTimeouts(absl::Time now);

  const std::shared_ptr<store::Store> store_;
  Clock* const clock_;
  InFlight* const in_flight_;
  const absl::Duration interval_;
  const absl::Duration lease_;
  const absl::Duration stop_grace_;
  const std::string worker_id_;
  const std::function<void(const std::shared_ptr<Execution>&)> on_overdue_;
  const bool store_registry_;

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_HEARTBEATER_H_
