// The worker runtime of one process: fetcher, executor pool, completer,
// heartbeater and leader-only maintenance.
//
// The fetcher claims, per queue, as many jobs as that queue has free slots,
// in one JobClaim round trip, so load spreads across processes by itself. It
// sleeps until a slot frees on a queue that had more work, a store
// notification arrives, or the poll interval passes. Executor threads (one
// per slot) run handlers and hand outcomes to the completer, which batches
// the writes.
//
// Claiming ahead. Each claim is a committed transaction, so a store that
// syncs its commits to disk answers in a millisecond or more. A queue whose
// jobs finish faster than that would wait for every claim with its slots
// idle, and pay one commit per handful of jobs. So the fetcher measures how
// fast each queue starts jobs and also claims that many jobs for the next
// two claim round trips (at most WorkerOptions::max_prefetch) beyond its
// free slots: slots x 2 x claim time / mean handler time, both measured.
// It refills them when half are gone; they wait here under lease (the
// heartbeater extends it) and an executor takes the next one the moment it
// finishes a job. A queue whose jobs take longer than two claims finishes
// fewer than one per slot meanwhile, so none of its jobs are claimed ahead
// and they stay free for other processes. Not used with rate limits (the
// RateGate holds jobs its own way), nor on a store whose claims all wait for
// one write lock (SQLite: Store::SerializesClaims). Jobs waiting ahead
// at shutdown are released at once, like jobs held for a rate limit.
//
// How many jobs may run is decided by the ConcurrencyLimiter (per queue and a
// global cap, the latter lowered by the ResourceMonitor under load), and
// which may start by the RateGate (rate limits per queue and per job name);
// see docs/concurrency.md.
//
// Timeouts and cancels ask a handler to stop; its attempt keeps its lease
// until it has returned (execution.h), and its slot stays busy meanwhile.
//
// Shutdown (Stop): stop fetching; release jobs held for a rate limit; wait
// for running handlers until stop_grace (at most half the deadline) before
// the release time (the drain deadline less a tenth of it, at most 500 ms,
// kept for storing the outcomes), then ask them to stop and wait until then;
// release what still runs (retryable at once, another worker may take it;
// the error says the handler ignored the stop request); join the executors,
// leaving behind (detached) any still inside such a handler, so Stop() ends
// by the deadline; flush outcomes; resign leadership and deregister.
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
  return coordinator != nullptr && coordinator->SupportsWake() && !store.NotifiesOtherProcesses();
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
  // Whether this process holds the maintenance leadership now.
  bool is_leader() const { return maintenance_ && maintenance_->is_leader(); }
  // Tells the handler running `id` in this process, if any, to stop now
  // rather than at the next heartbeat. The store records the request.
  void RequestCancel(JobId id);

 private:
  void FetchLoop();
  // Claims up to `want` jobs of `queue` (fewer when rate limited), queues
  // the ones that may start in its `free` slots and keeps the rest ahead.
  // False when the store failed.
  bool Claim(const std::string& queue, int want, int free);
  // A held job whose turn came: a fresh attempt record with its timeout
  // starting now, or null when the heartbeater gave up on it meanwhile.
  std::shared_ptr<Execution> Unhold(const std::shared_ptr<Execution>& held);
  void SetDeadline(Execution& e, absl::Time now) const;
  // Queues released held jobs to run now, taking their slots.
  void Enqueue(std::vector<std::shared_ptr<Execution>> execs) ABSL_LOCKS_EXCLUDED(mu_);

  // Jobs of one queue claimed ahead of free slots, and how fast it starts jobs.
  struct Ahead {
    std::deque<std::shared_ptr<Execution>> jobs;  // in claim order
    double handler_seconds = 0;                   // mean handler time, smoothed; 0 = none yet
    bool more = false;  // the last claim filled up: the queue has more work
  };
  // How many jobs `queue` should have claimed ahead now.
  int AheadTargetLocked(const std::string& queue, const Ahead& a) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The next job claimed ahead for `queue` when one of its slots is free,
  // with the slot taken; null otherwise.
  std::shared_ptr<Execution> TakeAheadLocked(const std::string& queue)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a job taken by TakeAheadLocked: its deadline begins now. Null (and
  // the slot given back) when its lease was lost while it waited.
  std::shared_ptr<Execution> StartAhead(const std::shared_ptr<Execution>& waiting)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One executor thread. Its lock `mu` is held except while a handler runs,
  // so Stop() can tell an idle executor (it joins) from one inside a
  // handler that ignored the stop request (it sets `abandoned` and detaches;
  // once the handler returns, the thread sees it and touches nothing more).
  struct ExecutorSlot {
    Mutex mu;
    bool abandoned ABSL_GUARDED_BY(mu) = false;
    bool done ABSL_GUARDED_BY(mu) = false;  // the loop has exited
    std::thread thread;
  };
  void ExecLoop(const std::shared_ptr<ExecutorSlot>& slot) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // False when Stop() abandoned the slot while the handler ran.
  bool Run(const std::shared_ptr<Execution>& exec, ExecutorSlot& slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(slot.mu) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // `released_why`: for a shutdown release, why the handler did not stop.
  Outcome Decide(const std::shared_ptr<Execution>& exec, const absl::Status& status,
                 std::optional<std::string> result, absl::Duration elapsed,
                 const std::string& released_why = "");
  void Emit(const JobEvent& event);
  void OnNotify(const std::string& queue) ABSL_LOCKS_EXCLUDED(mu_);

  RuntimeParams p_;  // p_.handlers moved into handlers_
  std::map<std::string, std::shared_ptr<const ContextHandler>> handlers_;
  InFlight in_flight_;
  std::unique_ptr<Completer> completer_;
  std::unique_ptr<Heartbeater> heartbeater_;
  std::unique_ptr<Maintenance> maintenance_;
  int subscription_ = -1;                     // the store's notifications
  int wake_subscription_ = -1;                // the coordinator's wake-ups
  absl::Status init_;                         // opening the coordinator
  std::unique_ptr<RateGate> gate_;            // the fetcher's (Stop()'s once it joined)
  std::unique_ptr<ResourceMonitor> monitor_;  // null unless resource-aware

  Mutex mu_;
  ConcurrencyLimiter limiter_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Execution>> ready_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Ahead> ahead_ ABSL_GUARDED_BY(mu_);
  double claim_seconds_ ABSL_GUARDED_BY(mu_) = 0;  // JobClaim time, smoothed
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // no more fetching
  bool exit_ ABSL_GUARDED_BY(mu_) = false;      // executor threads exit
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;   // Stop() finished
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // Attempts that ran past a stop request, and by how long in total.
  int64_t overruns_ ABSL_GUARDED_BY(mu_) = 0;
  double overrun_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  Mutex stop_mu_;  // serializes Stop()

  std::thread fetcher_;
  std::vector<std::shared_ptr<ExecutorSlot>> executors_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RUNTIME_H_
