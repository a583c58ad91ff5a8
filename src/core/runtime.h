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
// Shutdown (Stop): stop fetching; wait up to the drain deadline for running
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
#include "absl/synchronization/mutex.h"
#include "core/completer.h"
#include "core/execution.h"
#include "core/heartbeater.h"
#include "core/maintenance.h"
#include "popqueue/queue.h"
#include "store/store.h"

namespace popqueue::core {

struct RuntimeParams {
  std::shared_ptr<store::Store> store;
  Clock* clock = nullptr;
  WorkerOptions options;
  std::string worker_id;
  std::map<std::string, ContextHandler> handlers;
  std::vector<EventListener> listeners;
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
  bool stopped() ABSL_LOCKS_EXCLUDED(mu_);
  // Tells the handler running `id` in this process, if any, to stop now
  // rather than at the next heartbeat. The store records the request.
  void RequestCancel(JobId id);

 private:
  struct Slots {
    int limit = 0;
    int busy = 0;
    bool more = false;  // the last claim filled every free slot
  };

  void FetchLoop();
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
  int subscription_ = -1;

  absl::Mutex mu_;
  std::map<std::string, Slots> slots_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Execution>> ready_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // no more fetching
  bool exit_ ABSL_GUARDED_BY(mu_) = false;      // executor threads exit
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;   // Stop() finished
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex stop_mu_;  // serializes Stop()

  std::thread fetcher_;
  std::vector<std::thread> executors_;
};

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_RUNTIME_H_
