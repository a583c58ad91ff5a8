// The worker runtime of one process: fetcher, executor pool, completer,
// heartbeater and leader-only maintenance.
//
// The fetcher claims, per queue, at most as many jobs as that queue has free
// slots, in one JobClaim round trip, so a process never holds work it cannot
// start and load spreads across processes by itself. It sleeps until a slot
// frees on a queue that had more work, a store notification arrives, or the
// poll interval passes. Executor threads (one per slot) run handlers and hand
// outcomes to the completer, which batches the writes.
//
// How many jobs may run is decided by the ConcurrencyLimiter (per queue and a
// global cap, the latter lowered by the ResourceMonitor under load), and
// which may start by the RateGate (rate limits per queue and per job name);
// see docs/concurrency.md.
//
// Shutdown (Stop): stop fetching; release jobs held for a rate limit; wait up
// to the drain deadline for running
// handlers; release what still runs (retryable at once, another worker may
// take it) and tell those handlers to stop; join; flush outcomes; resign
// leadership and deregister.
#ifndef POPQUEUE_CORE_RUNTIME_H_
#define POPQUEUE_CORE_RUNTIME_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "coord/coordinator.h"
#include "core/completer.h"
#include "core/concurrency_limiter.h"
#include "core/execution.h"
#include "core/heartbeater.h"
#include "core/maintenance.h"
#include "core/rate_gate.h"
#include "core/resource_monitor.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::core {

// Whether workers and producers use the coordinator's wake-ups: when it has
// them and the store's own notifications do not reach other processes.
inline bool UseCoordinatorWake(const store::Store& store, coord::Coordinator* coordinator) {
  return coordinator != nullptr && coordinator->SupportsWake() &&
         !store.NotifiesOtherProcesses();
}

struct RuntimeParams {
  std::shared_ptr<store::Store> store;
  Clock* clock = nullptr;
  WorkerOptions options;
  std::string worker_id;
  std::map<std::string, ContextHandler> handlers;
  std::vector<EventListener> listeners;
  // Rate limits go through it (distributed with Redis/Memcached). Null = an
  // in-process one, opened when a rate limit is configured.
  std::shared_ptr<coord::Coordinator> coordinator;
};

class Runtime {
 public:
  explicit Runtime(RuntimeParams params);
  ~Runtime();  // Stop()s

  absl::Status Start();
  // Graceful; idempotent; blocks until everything is stopped.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until Stop() has completed.
  void Wait() ABSL_LOCKS_EXCLUDED(mu_);
  int running() ABSL_LOCKS_EXCLUDED(mu_);
  // The concurrency limit in force, running and held jobs, last load reading.
  ConcurrencyStats concurrency() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopped() ABSL_LOCKS_EXCLUDED(mu_);
  // Tells the handler running `id` in this process, if any, to stop now
  // rather than at the next heartbeat. The store records the request.
  void RequestCancel(JobId id);

 private:
  void FetchLoop();
  // Claims up to `free` jobs of `queue` (fewer when rate limited) and queues
  // the ones that may start. False when the store failed.
  bool Claim(const std::string& queue, int free);
  // A held job whose turn came: a fresh attempt record with its timeout
  // starting now, or null when the heartbeater gave up on it meanwhile.
  std::shared_ptr<Execution> Unhold(const std::shared_ptr<Execution>& held);
  void SetDeadline(Execution& e, absl::Time now) const;
  // Queues released held jobs to run now, taking their slots.
  void Enqueue(std::vector<std::shared_ptr<Execution>> execs) ABSL_LOCKS_EXCLUDED(mu_);
  void ExecLoop();
  void Run(const std::shared_ptr<Execution>& exec);
  Outcome Decide(const std::shared_ptr<Execution>& exec, const absl::Status& status,
                 std::optional<std::string> result, absl::Duration elapsed);
  void Emit(const JobEvent& event);
  void OnNotify(const std::string& queue) ABSL_LOCKS_EXCLUDED(mu_);

  RuntimeParams p_;
  InFlight in_flight_;
  std::unique_ptr<Completer> completer_;
  std::unique_ptr<Heartbeater> heartbeater_;
  std::unique_ptr<Maintenance> maintenance_;
  int subscription_ = -1;       // the store's notifications
  int wake_subscription_ = -1;  // the coordinator's wake-ups
  absl::Status init_;                        // opening the coordinator
  std::unique_ptr<RateGate> gate_;  // the fetcher's (Stop()'s once it joined)
  std::unique_ptr<ResourceMonitor> monitor_;  // null unless resource-aware

  Mutex mu_;
  ConcurrencyLimiter limiter_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Execution>> ready_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // no more fetching
  bool exit_ ABSL_GUARDED_BY(mu_) = false;      // executor threads exit
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;   // Stop() finished
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  Mutex stop_mu_;  // serializes Stop()

  std::thread fetcher_;
  std::vector<std::thread> executors_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RUNTIME_H_
